"""A broadcast's audience and each recipient's message: contacts whose latest `updates`
consent is yes, on the address they last wrote from (not stopped), filtered by language,
channel and city (the city of their latest support request); read in pages of contacts, so
memory does not grow with the audience."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from bot.i18n import N_, translator
from bot.models import AddressKind, OutboundMessage, Template
from bot.profile import Profile
from bot.tables import (
    Broadcast,
    BroadcastRecipient,
    ConsentRecord,
    Contact,
    ContactAddress,
    Conversation,
    Message,
    SupportRequest,
)
from bot.text import normalize_for_matching
from bot.whatsapp_window import window_at

PURPOSE = "updates"
PAGE = 1000
# The profile's approved template for updates outside WhatsApp's 24-hour window.
TEMPLATE_NAMES = ("updates", "broadcast_update")
# Which field of a profile template each WhatsApp provider sends it by.
TEMPLATE_FIELD = {"twilio": "twilio_content_sid", "whatsapp": "meta_name"}

OPT_OUT_LINE = N_("To stop receiving these updates, reply STOP.")

SKIP_OPTED_OUT = "opted out"
SKIP_STOPPED = "address stopped"
SKIP_CANCELLED = "broadcast cancelled"
SKIP_NO_TEMPLATE = "WhatsApp window closed, no approved template"
SKIP_CHANNEL_OFF = "channel off"
UNKNOWN = "unknown"  # a send cut off by a crash: never sent again, counted apart


@dataclass(frozen=True)
class BroadcastSpec:
    text_ar: str
    text_en: str
    channels: tuple[str, ...] = ()
    language: str | None = None
    cities: tuple[str, ...] = ()
    at: datetime | None = None
    created_by: str = "cli"

    def filters(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "language": self.language,
            "cities": list(self.cities),
        }


@dataclass(frozen=True)
class Recipient:
    contact_id: int
    address_id: int
    channel: str
    language: str


def latest_consent() -> Any:
    return (
        select(ConsentRecord.granted)
        .where(ConsentRecord.contact_id == Contact.id, ConsentRecord.purpose == PURPOSE)
        .order_by(ConsentRecord.id.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )


def last_inbound() -> Any:
    return (
        select(func.max(Message.id))
        .where(Message.conversation_id == Conversation.id, Message.direction == "in")
        .correlate(Conversation)
        .scalar_subquery()
    )


def audience(
    session: Session, spec: BroadcastSpec, default_language: str
) -> Iterator[list[Recipient]]:
    """Pages of recipients: consenting, not stopped, on their latest channel, filtered."""
    cities = {normalize_for_matching(city) for city in spec.cities}
    after = 0
    while True:
        rows = session.execute(
            select(Contact.id, Contact.language, Message.address_id, Message.channel)
            .join(Conversation, Conversation.contact_id == Contact.id)
            .join(Message, Message.id == last_inbound())
            .join(ContactAddress, ContactAddress.id == Message.address_id)
            .where(
                Contact.id > after,
                latest_consent().is_(True),
                ContactAddress.stopped_at.is_(None),
            )
            .order_by(Contact.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        page = [
            Recipient(contact_id, address_id, channel, language or default_language)
            for contact_id, language, address_id, channel in rows
            if (not spec.channels or channel in spec.channels)
            and (spec.language is None or (language or default_language) == spec.language)
        ]
        if cities and page:
            city_of = _cities(session, [r.contact_id for r in page])
            page = [r for r in page if city_of.get(r.contact_id) in cities]
        yield page


def _cities(session: Session, contact_ids: list[int]) -> dict[int, str]:
    """The city of each contact's latest support request (answers are encrypted)."""
    found: dict[int, str] = {}
    for contact_id, answers in session.execute(
        select(SupportRequest.contact_id, SupportRequest.answers)
        .where(SupportRequest.contact_id.in_(contact_ids))
        .order_by(SupportRequest.id)
    ):
        city = (answers or {}).get("city")
        if isinstance(city, str) and city.strip():
            found[contact_id] = normalize_for_matching(city)
    return found


def last_inbound_at() -> Any:
    """When the recipient last wrote (for WhatsApp's 24-hour window)."""
    return (
        select(func.max(Message.created_at))
        .where(
            and_(
                Message.conversation_id == Conversation.id,
                Message.direction == "in",
                Message.address_id == BroadcastRecipient.address_id,
            )
        )
        .correlate(Conversation, BroadcastRecipient)
        .scalar_subquery()
    )


def broadcast_text(broadcast: Broadcast, language: str) -> str:
    """The broadcast in the recipient's language, ending with how to stop updates."""
    t = translator(language)
    text = broadcast.text_en if t.language == "en" else broadcast.text_ar
    return f"{text}\n\n{t.gettext(OPT_OUT_LINE)}"


def message_for(
    broadcast: Broadcast,
    channel: str,
    kind: str,
    language: str,
    last_inbound: datetime | None,
    now: datetime,
    profile: Profile,
) -> tuple[OutboundMessage | None, str | None]:
    """The message one recipient gets: the text, or outside WhatsApp's window the profile's
    approved template with the text as its variable; or a skip reason."""
    text = broadcast_text(broadcast, language)
    if kind != AddressKind.WHATSAPP.value:
        return OutboundMessage(text), None
    if last_inbound is not None and last_inbound.tzinfo is None:
        last_inbound = last_inbound.replace(tzinfo=UTC)
    if window_at(last_inbound, now).open:
        return OutboundMessage(text), None
    attribute = TEMPLATE_FIELD.get(channel)
    for name in TEMPLATE_NAMES:
        template = profile.templates.get(name)
        if template is not None and attribute and getattr(template, attribute, None):
            return OutboundMessage(text, template=Template(name, {"1": text})), None
    return None, SKIP_NO_TEMPLATE
