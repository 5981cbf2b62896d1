"""The message types every channel speaks, so the router never sees a provider's format."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class AddressKind(StrEnum):
    """How a beneficiary is reached; one contact may have several of these.

    WHATSAPP is a phone number on WhatsApp. WHATSAPP_USER is a WhatsApp user known only by
    the business-scoped user id Meta gives a user who adopted a username (`US.1349…`): it is
    not a phone number, so it is never joined to a phone's contact by itself (the beneficiary
    can link a phone with a one-time code). WHATSAPP_GROUP is a WhatsApp group: what is said
    there is recorded for staff and never answered, in the group or privately.
    """

    WHATSAPP = "whatsapp"
    WHATSAPP_USER = "whatsapp_user"
    WHATSAPP_GROUP = "whatsapp_group"
    SMS = "sms"
    TELEGRAM = "telegram"
    EMAIL = "email"
    WEBCHAT = "webchat"
    TERMINAL = "terminal"

    @property
    def answered(self) -> bool:
        """Whether the bot answers what arrives from such an address (groups: never)."""
        return self is not AddressKind.WHATSAPP_GROUP


# The address kinds that are phone numbers: the same number on SMS and WhatsApp is one
# beneficiary, and a phone is reached on these. A WhatsApp user id is not a phone.
PHONE_KINDS: tuple[AddressKind, ...] = (AddressKind.SMS, AddressKind.WHATSAPP)


class SendFailure(StrEnum):
    """What a provider's error code means for one message, whether the send call answered it
    or a status report brought it later: each provider decides it in one place
    (channels/<provider>/errors.py), so both paths treat a code alike."""

    STOPPED = "stopped"  # the recipient opted out at the provider: stop the address
    RETRYABLE = "retryable"  # a passing fault: send again later
    THROTTLED = "throttled"  # too fast: send again later, slower
    PERMANENT = "permanent"  # sending again cannot help
    WINDOW_CLOSED = "window_closed"  # WhatsApp's 24 hours are over: only a template now

    @property
    def retried(self) -> bool:
        return self in (SendFailure.RETRYABLE, SendFailure.THROTTLED)


class DeliveryStatus(StrEnum):
    """One status scale for every provider's delivery reports (courier's model).

    An outbound message is QUEUED, claimed as SENDING before its provider is called, then
    SENT (the provider took it), DELIVERED, READ, or FAILED. UNKNOWN is a send whose outcome
    is in doubt (its worker died, or the answer timed out, after the request went): never
    sent again, it waits for the provider's status report, which carries our id, to settle it.
    """

    QUEUED = "queued"
    SENDING = "sending"
    UNKNOWN = "unknown"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Later stages win over earlier ones when reports arrive out of order."""
        return _RANK[self]


_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.UNKNOWN: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
    DeliveryStatus.FAILED: 6,
}
# Reports a provider sends only for a message it holds: settling a send in doubt.
IN_FLIGHT_STATUSES = (DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Media:
    """An attachment: where the provider keeps it, or where we stored it."""

    content_type: str
    url: str | None = None
    filename: str | None = None
    stored_path: str | None = None


@dataclass(frozen=True)
class Button:
    """A choice offered with a message; `id` comes back when it is pressed."""

    id: str
    title: str


@dataclass(frozen=True)
class Template:
    """A pre-approved message for WhatsApp outside the 24-hour window."""

    name: str
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InboundMessage:
    """A beneficiary's message, decoded from any channel."""

    channel: str
    address_kind: AddressKind
    address: str
    provider_id: str
    text: str = ""
    button_id: str | None = None
    media: tuple[Media, ...] = ()
    sender_name: str | None = None
    received_at: datetime = field(default_factory=utcnow)
    # The network address the message came from, where the sender's address alone costs
    # nothing to change (a web-chat session): limits count it too. Not stored.
    client_address: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class OutboundMessage:
    """What a handler says; each channel renders buttons and media as it can."""

    text: str
    buttons: tuple[Button, ...] = ()
    media: tuple[Media, ...] = ()
    template: Template | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "buttons": [[b.id, b.title] for b in self.buttons],
            "media": [
                {"content_type": m.content_type, "url": m.url, "filename": m.filename}
                for m in self.media
            ],
            "template": (
                {"name": self.template.name, "variables": self.template.variables}
                if self.template
                else None
            ),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutboundMessage:
        template = data.get("template")
        return cls(
            text=data["text"],
            buttons=tuple(Button(id=i, title=t) for i, t in data.get("buttons", [])),
            media=tuple(Media(**m) for m in data.get("media", [])),
            template=Template(template["name"], template["variables"]) if template else None,
        )


@dataclass(frozen=True)
class MessageRef:
    """Our id of one sent part, as it travels with the send and comes back in reports:
    `"<message id>"` for the first part, `"<message id>.<part>"` for the others."""

    message_id: int
    part: int = 0

    def __str__(self) -> str:
        return str(self.message_id) if self.part == 0 else f"{self.message_id}.{self.part}"

    @classmethod
    def parse(cls, text: str | None) -> MessageRef | None:
        """The reference in a report; None when absent or not ours (never an error)."""
        head, _, tail = (text or "").strip().partition(".")
        if not (head.isascii() and head.isdigit() and len(head) <= 18):
            return None
        if tail and not (tail.isascii() and tail.isdigit() and len(tail) <= 4):
            return None
        return cls(int(head), int(tail or 0))


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's delivery report for a message we sent."""

    channel: str
    provider_id: str
    status: DeliveryStatus
    error_code: str | None = None
    at: datetime = field(default_factory=utcnow)
    # For a failed message, what its error code means (None when the report carries none).
    failure: SendFailure | None = None
    # Our own message id (and part) when the send carried it (Twilio's status-callback URL,
    # Meta's biz_opaque_callback_data): it finds a message whose provider id never got stored.
    reference: MessageRef | None = None

    @property
    def window_closed(self) -> bool:
        """WhatsApp refused free text because 24 hours passed since the beneficiary last
        wrote; the router then sends the approved "reply_waiting" template instead."""
        return self.status is DeliveryStatus.FAILED and self.failure is SendFailure.WINDOW_CLOSED

    @property
    def retried(self) -> bool:
        """The provider gave up on this send for a passing reason (throttling): the message
        goes again rather than failing for good."""
        failure = self.failure
        return self.status is DeliveryStatus.FAILED and failure is not None and failure.retried
