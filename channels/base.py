"""The channel interface: verify, parse, send, fetch media, and what each channel can display.

Modelled on nyaruka/courier: one module per provider, signature checked before parsing,
every inbound payload decoded into `InboundMessage` or `StatusUpdate`, send errors typed so the
worker knows whether to retry. Nothing here or in the router sees a provider's own types.
"""

from __future__ import annotations

import email.utils
import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar, TypeVar

import aiohttp
from aiohttp import web
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.models import (
    AddressKind,
    InboundMessage,
    Media,
    MessageRef,
    OutboundMessage,
    SendFailure,
    StatusUpdate,
)

PartT = TypeVar("PartT")

# Requests to one provider's API at once, per process: above a worker's sends in flight
# (worker/defaults.py: 400 bulk and 100 replies), where aiohttp's default of 100 connections
# would hold them back.
MAX_CONNECTIONS = 500
FORM_TYPE = "application/x-www-form-urlencoded"  # what Twilio posts, and is posted


class ChannelSettings(BaseSettings):
    """A channel's own settings, read from the environment and `.env` like the gateway's.

    Each channel subclasses this in its own module (its environment names come from
    `env_prefix` and the field names: TWILIO_ + account_sid = TWILIO_ACCOUNT_SID) and names
    the fields it cannot work without in `required`, so whether it is on, and why not, is
    known from its settings alone, before anything is built. This class itself, with nothing
    to set, is the settings of a channel that is always on (the web chat).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    required: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def env_name(cls, field_name: str) -> str:
        """The environment variable that sets a field."""
        return (str(cls.model_config.get("env_prefix") or "") + field_name).upper()

    def missing(self) -> list[str]:
        """The environment names of required settings left unset."""
        return [self.env_name(name) for name in self.required if not getattr(self, name)]

    def off_reason(self) -> str | None:
        """None when the channel can be on; otherwise why not (logged at start)."""
        missing = self.missing()
        return f"no credentials ({', '.join(missing)} unset)" if missing else None


@dataclass(frozen=True)
class Capabilities:
    """What a channel can show; handlers' buttons degrade to numbered text where it can't."""

    buttons: bool = False
    max_buttons: int = 0
    max_button_title: int = 20
    max_text_length: int = 4096
    media: bool = False
    templates: bool = False


@dataclass(frozen=True)
class WebhookRequest:
    """The parts of an HTTP request a channel needs, free of the web framework."""

    method: str
    path: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)

    @cached_property
    def json_body(self) -> Any:
        """The body parsed as JSON, once for both verify and parse; ValueError if it is not."""
        return json.loads(self.body)


@dataclass(frozen=True)
class SendResult:
    """The provider's id of what went; `parts` every part's id, in order, when the message
    went as several provider messages (each part's status report then finds its own row)."""

    provider_id: str
    parts: tuple[str, ...] = ()


class SendError(Exception):
    """A send failed; subclasses say what the worker should do about it (`failure`)."""

    failure: ClassVar[SendFailure] = SendFailure.PERMANENT
    # The provider ids of the parts of a split message that went before this failure (the
    # earlier attempts' included): a retry sends only the parts after them.
    sent_parts: tuple[str, ...] = ()

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RetryableSendError(SendError):
    """Try again later: provider 5xx, timeouts, connection errors."""

    failure = SendFailure.RETRYABLE


class ThrottledError(RetryableSendError):
    """The provider asked us to slow down (HTTP 429, WhatsApp 130429); `retry_after` is the
    seconds it asked for, when it said (the worker pauses the channel's budget that long)."""

    def __init__(
        self, message: str, code: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code)
        self.retry_after = retry_after

    failure = SendFailure.THROTTLED


class InDoubtSendError(SendError):
    """The request went and no answer came (a timeout, a dropped connection): the provider
    may hold the message. Never sent again blind: it is `unknown` until the provider's status
    report, which carries our reference, settles it."""

    failure = SendFailure.RETRYABLE  # what a report may still say; the worker never retries


class PermanentSendError(SendError):
    """Retrying cannot help: bad address, content rejected."""

    failure = SendFailure.PERMANENT


class ContactStoppedError(PermanentSendError):
    """The recipient opted out at the provider (Twilio 21610); stop that address."""

    failure = SendFailure.STOPPED


class WindowClosedError(PermanentSendError):
    """WhatsApp's 24-hour window is closed (Meta 131047, Twilio 63016): only a template goes;
    the channel catches it and sends the approved one instead."""

    failure = SendFailure.WINDOW_CLOSED


_ERRORS: dict[SendFailure, type[SendError]] = {
    error.failure: error
    for error in (
        RetryableSendError,
        ThrottledError,
        PermanentSendError,
        ContactStoppedError,
        WindowClosedError,
    )
}


def send_error_for(
    failure: SendFailure, message: str, code: str | None, retry_after: float | None = None
) -> SendError:
    """The typed send error for a provider's classified error: the same classification a
    status report gets (StatusUpdate.failure), raised where the send call answered it; a
    throttled one keeps the seconds the provider asked to wait."""
    if failure is SendFailure.THROTTLED:
        return ThrottledError(message, code=code, retry_after=retry_after)
    return _ERRORS[failure](message, code=code)


MAX_RETRY_AFTER_SECONDS = 3600.0  # a longer wait asked for is taken as this long


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP Retry-After header (seconds, or an HTTP date) as seconds from now; None when
    absent or unreadable. Capped, so one odd header cannot stop a channel for days."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text) if text.isascii() else None
    except ValueError:
        seconds = None
    if seconds is None:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds or seconds <= 0:  # NaN, or a time already past
        return None
    return min(seconds, MAX_RETRY_AFTER_SECONDS)


def unanswered(provider: str, exc: BaseException) -> SendError:
    """A send's request that got no answer: retried when it never left (the connection was
    refused or never made), in doubt otherwise (it may have reached the provider)."""
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return RetryableSendError(f"{provider} unreachable: {exc!r}", code="network")
    return InDoubtSendError(f"{provider} did not answer: {exc!r}", code="no-answer")


class MediaFetchError(Exception):
    """An attachment could not be fetched now (provider error, timeout): try again later."""


class PermanentMediaError(MediaFetchError):
    """Fetching again cannot help (too large, unknown to the provider, not ours to fetch)."""


Inbound = InboundMessage | StatusUpdate


class Channel(ABC):
    """One provider. Subclasses set `name`, `address_kinds`, `capabilities`, `webhook_paths`
    and `settings_class`; the registry builds them as `cls(context, settings)`."""

    name: ClassVar[str]
    address_kinds: ClassVar[tuple[AddressKind, ...]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    webhook_paths: ClassVar[tuple[str, ...]] = ()
    settings_class: ClassVar[type[ChannelSettings]] = ChannelSettings

    def phone_kinds(self) -> tuple[AddressKind, ...]:
        """The address kinds on which this channel, as configured, can reach a phone number
        that has not written yet (a verification code); none by default."""
        return ()

    async def start(self) -> None:
        """Open long-lived resources (an HTTP session shared by every send)."""
        return None

    async def close(self) -> None:
        """Release what `start` opened."""
        return None

    async def verify(self, request: WebhookRequest) -> bool:
        """True when the request really comes from the provider (signature, secret token)."""
        return False

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        """Decode a verified webhook; raise ValueError for a malformed one (answered 400)."""
        raise ValueError(f"{self.name} receives no webhooks")

    async def received(self, message: InboundMessage) -> None:
        """A quick word the provider waits for once a message arrives (Telegram shows a
        spinner on a pressed button until it is answered). Runs beside the recording, so it
        never delays it; must not raise."""
        return None

    async def fetch_media(self, media: Media) -> Media:
        """Download one attachment the provider keeps (behind its authenticated URL or media
        id) and store it: `media` with `stored_path` set. Runs in the worker once the message
        is recorded; raises MediaFetchError to be tried again later, PermanentMediaError when
        trying again cannot help."""
        raise PermanentMediaError(f"{self.name} keeps no media to fetch")

    async def poll(self, deliver: Callable[[InboundMessage], Awaitable[object]]) -> None:
        """For channels that pull messages (IMAP): run until cancelled, handing each new
        message to `deliver`. Runs in the web process only, never in the worker."""
        return None

    def acknowledge(self, request: WebhookRequest, results: list[int | None]) -> web.Response:
        """The provider's expected answer once everything in the request is recorded."""
        return web.Response(text="ok")

    def extra_routes(self) -> list[web.AbstractRouteDef]:
        """Other HTTP routes the channel serves (pages, verification handshakes)."""
        return []

    @abstractmethod
    async def send(
        self,
        kind: AddressKind,
        address: str,
        message: OutboundMessage,
        *,
        reference: MessageRef | None = None,
        already_sent: tuple[str, ...] = (),
    ) -> SendResult:
        """Deliver one message; raise a SendError subclass on failure. A channel whose
        provider reports statuses sends `reference` (our id) along, part by part, so each
        report names the message even when its provider id was never stored. A message the
        channel splits in parts is sent from the part after `already_sent` (the ids of
        those an earlier attempt sent; see `send_parts`)."""


async def send_parts(
    parts: Sequence[PartT],
    already_sent: tuple[str, ...],
    send_part: Callable[[int, PartT], Awaitable[str]],
) -> tuple[str, ...]:
    """Send a split message's parts in order, from the first that has not gone yet, and
    return every part's provider id. A failure carries the ids of those that went
    (`SendError.sent_parts`), so a retry sends only the rest: the beneficiary never gets
    the first half twice."""
    sent = list(already_sent[: len(parts)])
    for index in range(len(sent), len(parts)):
        try:
            sent.append(await send_part(index, parts[index]))
        except SendError as exc:
            exc.sent_parts = tuple(sent)
            raise
    return tuple(sent)
