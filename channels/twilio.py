"""SMS and WhatsApp through Twilio: signed form webhooks in, the official client out.

Inbound, Twilio posts `application/x-www-form-urlencoded` webhooks to `/webhooks/twilio`
(messages) and `/webhooks/twilio/status` (delivery reports), signed in `X-Twilio-Signature`
with the auth token over the exact public URL it called and the sorted fields; the signature
is checked with the library's own `RequestValidator`, so a forged request never reaches parse.
WhatsApp addresses come as `whatsapp:+9665…`, SMS ones as `+9665…`; both become E.164 addresses
of their kind, so one phone on both is one contact (storage joins them).

Outbound goes through `twilio.rest.Client` with its asynchronous HTTP client, on the channel's
one aiohttp session (also used for media downloads), so no send blocks the event loop. Errors
are typed for the worker: 5xx, timeouts and connection errors are retried, 429 slows down,
21610 stops the address, 63016 (a WhatsApp conversation whose 24-hour window has closed) is
answered with the profile's approved template, anything else fails for good. Which codes mean
a closed window, and which template replaces free text, is bot/whatsapp_window.py's rule.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot import whatsapp_window
from bot.media import MAX_BYTES
from bot.models import (
    AddressKind,
    DeliveryStatus,
    InboundMessage,
    Media,
    OutboundMessage,
    StatusUpdate,
)
from bot.profile import WhatsAppTemplate
from channels.base import (
    Capabilities,
    Channel,
    ChannelSettings,
    ContactStoppedError,
    Inbound,
    MediaFetchError,
    PermanentMediaError,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendResult,
    ThrottledError,
    WebhookRequest,
)
from channels.context import ChannelContext
from channels.render import numbered_text, split_text

log = logging.getLogger(__name__)
# The library logs every API request's URL and headers at INFO: keep that for debugging only.
api_log = logging.getLogger(__name__ + ".api")
api_log.setLevel(logging.WARNING)

INBOUND_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"
SIGNATURE_HEADER = "x-twilio-signature"
WHATSAPP_PREFIX = "whatsapp:"
OCTET_STREAM = "application/octet-stream"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# One API request carries at most 1,600 characters of Body, for SMS and WhatsApp alike. An SMS
# segment is only 160 GSM-7 characters, or 70 in UCS-2 (any Arabic letter makes the whole text
# UCS-2, 67 per part once concatenated), but Twilio splits a long Body into segments itself and
# the phone joins them again; so we send up to 1,600 characters per request and split only
# longer texts, at paragraph/line/word boundaries, into several requests.
MAX_BODY = 1600
MAX_MEDIA = 10  # Twilio delivers at most ten attachments per inbound message

# Twilio error codes with a meaning for the worker.
OPTED_OUT = 21610  # the recipient replied STOP: Twilio refuses every message to them
TOO_MANY_REQUESTS = 20429
# 63016 (WhatsApp free text outside the 24-hour window) is bot.whatsapp_window's to judge.

# Every MessageStatus Twilio documents, onto the one status scale. Statuses of inbound
# messages (receiving, received) and any new ones are ignored rather than refused.
STATUSES: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "partially_delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
SID = re.compile(r"[A-Za-z0-9]{2,64}")
ERROR_CODE = re.compile(r"[0-9]{1,10}")


class TwilioSettings(ChannelSettings):
    """TWILIO_*: the account, and a sender for SMS, for WhatsApp, or both (a number, or a
    messaging service `MG…`); TWILIO_API_BASE points the client at a fake Twilio or a proxy."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_")
    required = ("account_sid", "auth_token")

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    sms_from: str | None = None
    whatsapp_from: str | None = None
    api_base: str | None = None

    def missing(self) -> list[str]:
        senders = [] if self.sms_from or self.whatsapp_from else [self.env_name("sms_from")]
        return super().missing() + senders


class _WindowClosedError(PermanentSendError):
    """Twilio 63016: only a template may be sent to this WhatsApp user now."""


class TwilioChannel(Channel):
    name: ClassVar[str] = "twilio"
    address_kinds = (AddressKind.WHATSAPP, AddressKind.SMS)
    capabilities = Capabilities(buttons=False, max_text_length=MAX_BODY, media=True, templates=True)
    webhook_paths = (INBOUND_PATH, STATUS_PATH)
    settings_class = TwilioSettings

    def __init__(self, context: ChannelContext, settings: TwilioSettings) -> None:
        if not settings.account_sid or settings.auth_token is None:
            raise ValueError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are required")
        self.context = context
        self.account_sid = settings.account_sid
        self._auth_token = settings.auth_token.get_secret_value()
        self._validator = RequestValidator(self._auth_token)
        self.sms_from = settings.sms_from or None
        whatsapp_from = settings.whatsapp_from or None
        if whatsapp_from and not whatsapp_from.startswith(WHATSAPP_PREFIX):
            whatsapp_from = WHATSAPP_PREFIX + whatsapp_from
        self.whatsapp_from = whatsapp_from
        self.api_base = (settings.api_base or "").rstrip("/") or None
        self.status_callback = context.settings.public_url + STATUS_PATH
        self.send_timeout = 20.0  # seconds per API request; the job itself times out at 60
        self.media_timeout = 120.0  # per download, in the worker (the webhook never waits)
        self._media_limits = aiohttp.ClientTimeout(total=self.media_timeout, connect=10)
        self._session: aiohttp.ClientSession | None = None
        self._client: Any = None

    def phone_kinds(self) -> tuple[AddressKind, ...]:
        """SMS and WhatsApp, each when its sender is configured (SMS first: basic phones)."""
        kinds = ((AddressKind.SMS, self.sms_from), (AddressKind.WHATSAPP, self.whatsapp_from))
        return tuple(kind for kind, sender in kinds if sender)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, connect=10))
        # The library's async client on our session: one session per channel for API calls and
        # media downloads (its own would be a second one), closed in close().
        http_client = AsyncTwilioHttpClient(pool_connections=False, logger=api_log)
        http_client.session = self._session
        client = Client(self.account_sid, self._auth_token, http_client=http_client)
        if self.api_base:
            client.api.base_url = self.api_base  # a fake Twilio in tests, a proxy in production
        self._client = client

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session, self._client = None, None

    async def _ready(self) -> tuple[aiohttp.ClientSession, Any]:
        if self._session is None:
            await self.start()
        assert self._session is not None
        return self._session, self._client

    # -- inbound ----------------------------------------------------------------------------
    async def verify(self, request: WebhookRequest) -> bool:
        signature = next(
            (v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER), None
        )
        if not signature:
            return False
        try:
            return bool(self._validator.validate(request.url, request.form, signature))
        except (TypeError, ValueError, UnicodeError):
            return False

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        if request.path == STATUS_PATH:
            return _parse_status(self.name, request.form)
        if request.path == INBOUND_PATH:
            return [_parse_message(self.name, request.form)]
        raise ValueError(f"no Twilio webhook at {request.path[:100]!r}")

    def acknowledge(self, request: WebhookRequest, results: list[int | None]) -> web.Response:
        if request.path == STATUS_PATH:
            return web.Response(status=204)
        # An empty TwiML document: recorded, and no reply inline (replies go through the API).
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def fetch_media(self, media: Media) -> Media:
        """Download one MediaUrl with the account's credentials and store it (in the worker)."""
        if not media.url or media.stored_path:
            return media
        try:
            session, _client = await self._ready()
            # Twilio answers with a redirect to its CDN; aiohttp drops the Authorization header
            # when a redirect leaves the origin, and we only send it to Twilio's own hosts.
            async with (
                asyncio.timeout(self.media_timeout),
                session.get(
                    media.url, headers=self._media_headers(media.url), timeout=self._media_limits
                ) as response,
            ):
                if response.status != 200:
                    error = f"twilio media: HTTP {response.status}"
                    if 400 <= response.status < 500 and response.status not in (401, 429):
                        raise PermanentMediaError(error)
                    raise MediaFetchError(error)
                if (response.content_length or 0) > MAX_BYTES:
                    raise PermanentMediaError(f"twilio media: over {MAX_BYTES} bytes")
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data.extend(chunk)
                    if len(data) > MAX_BYTES:
                        raise PermanentMediaError(f"twilio media: over {MAX_BYTES} bytes")
                content_type = media.content_type
                if content_type == OCTET_STREAM and response.content_type:
                    content_type = response.content_type  # Twilio did not say; the CDN does
        except MediaFetchError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaFetchError(f"twilio media: {exc!r}") from exc
        saved = await self.context.media.save(bytes(data), content_type, media.filename)
        return replace(media, stored_path=saved.stored_path)

    def _media_headers(self, url: str) -> dict[str, str]:
        if not self._trusted(url):
            return {}
        login = f"{self.account_sid}:{self._auth_token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(login).decode("ascii")}

    def _trusted(self, url: str) -> bool:
        """Whether the account's credentials may be sent to this URL (Twilio's API only)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
            return True
        if self.api_base:
            base = urlsplit(self.api_base)
            return (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
        return False

    # -- outbound ---------------------------------------------------------------------------
    async def send(self, kind: AddressKind, address: str, message: OutboundMessage) -> SendResult:
        if kind is AddressKind.WHATSAPP:
            sender, to = self.whatsapp_from, WHATSAPP_PREFIX + address
        elif kind is AddressKind.SMS:
            sender, to = self.sms_from, address
        else:
            raise PermanentSendError(f"twilio cannot send to a {kind} address", code="kind")
        if sender is None:
            raise PermanentSendError(f"no Twilio sender configured for {kind}", code="no-sender")

        if message.template is not None and kind is AddressKind.WHATSAPP:
            template = whatsapp_window.template_to_send(
                message.template.name, self.context.profile.templates, _content_sid
            )
            if template is None or template.twilio_content_sid is None:
                raise PermanentSendError(
                    f"template {message.template.name!r} has no twilio_content_sid",
                    code="no-template",
                )
            return SendResult(
                await self._create(
                    to,
                    sender,
                    content_sid=template.twilio_content_sid,
                    content_variables=json.dumps(message.template.variables, ensure_ascii=False),
                )
            )

        text = numbered_text(message)
        media_urls = [item.url for item in message.media if item.url]
        if kind is AddressKind.SMS and media_urls:
            # MMS does not reach Saudi numbers: an SMS carries the links instead.
            text = "\n".join([text, *media_urls]) if text else "\n".join(media_urls)
            media_urls = []
        parts = split_text(text, MAX_BODY) if text else [""]
        first: str | None = None
        for index, part in enumerate(parts):
            fields: dict[str, Any] = {"body": part}
            if index == 0 and media_urls:
                fields["media_url"] = media_urls
            try:
                sid = await self._create(to, sender, **fields)
            except _WindowClosedError:
                if kind is not AddressKind.WHATSAPP or index > 0:
                    raise
                return SendResult(await self._send_window_template(to, sender))
            first = first or sid
        assert first is not None
        return SendResult(first)

    def window_template(self) -> tuple[str, WhatsAppTemplate] | None:
        """The template for a WhatsApp reply whose 24-hour window has closed, if any."""
        return whatsapp_window.reply_waiting_template(self.context.profile.templates, _content_sid)

    async def _send_window_template(self, to: str, sender: str) -> str:
        chosen = self.window_template()
        if chosen is None:
            raise PermanentSendError(
                "window closed, no template", code=str(whatsapp_window.TWILIO_WINDOW_CLOSED)
            )
        name, template = chosen
        log.info("twilio: WhatsApp window closed, sending template %r instead", name)
        variables = {"1": self.context.profile.short_name.get(template.language)}
        try:
            return await self._create(
                to,
                sender,
                content_sid=template.twilio_content_sid,
                content_variables=json.dumps(variables, ensure_ascii=False),
            )
        except _WindowClosedError as exc:  # the template itself was refused
            raise PermanentSendError(str(exc), code=exc.code) from exc

    async def _create(self, to: str, sender: str, **fields: Any) -> str:
        """One Messages API request; the new message's SID, or a typed SendError."""
        _session, client = await self._ready()
        if sender.removeprefix(WHATSAPP_PREFIX).startswith("MG"):
            fields["messaging_service_sid"] = sender.removeprefix(WHATSAPP_PREFIX)
        else:
            fields["from_"] = sender
        try:
            async with asyncio.timeout(self.send_timeout):
                created = await client.messages.create_async(
                    to=to, status_callback=self.status_callback, **fields
                )
        except TwilioException as exc:
            raise _send_error(exc) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise RetryableSendError(f"twilio unreachable: {exc!r}", code="network") from exc
        except ValueError as exc:  # a 2xx answer that is not JSON: a proxy in the way
            raise RetryableSendError(f"twilio answered garbage: {exc}", code="bad-reply") from exc
        sid = getattr(created, "sid", None)
        if not sid:
            raise RetryableSendError("twilio answered without a message SID", code="bad-reply")
        return str(sid)


def _content_sid(template: WhatsAppTemplate) -> str | None:
    """What Twilio sends a template by (templates without one are Meta's only)."""
    return template.twilio_content_sid


def _send_error(exc: TwilioException) -> SendError:
    """The worker's view of a Twilio API error. Twilio's own message is left out: it can
    quote the recipient's number, and it ends up in logs."""
    status = _int(getattr(exc, "status", None))
    code = _int(getattr(exc, "code", None))
    label = str(code) if code else (f"http-{status}" if status else "twilio")
    what = f"twilio answered HTTP {status}, error {code}"
    if code == OPTED_OUT:
        return ContactStoppedError(what + " (recipient opted out)", code=label)
    if whatsapp_window.means_closed(code):
        return _WindowClosedError(what + " (WhatsApp window closed)", code=label)
    if status == 429 or code == TOO_MANY_REQUESTS:
        return ThrottledError(what, code=label)
    if status is None or status >= 500:
        return RetryableSendError(what, code=label)
    return PermanentSendError(what, code=label)


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None


# -- parsing ---------------------------------------------------------------------------------
def _field(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def _address(value: str) -> tuple[AddressKind, str]:
    """`whatsapp:+9665…` or `+9665…` as (kind, E.164 number)."""
    if not value:
        raise ValueError("no From")
    if value.startswith(WHATSAPP_PREFIX):
        kind, number = AddressKind.WHATSAPP, value.removeprefix(WHATSAPP_PREFIX)
    elif ":" in value:
        raise ValueError(f"unsupported Twilio channel {value.split(':', 1)[0][:20]!r}")
    else:
        kind, number = AddressKind.SMS, value
    if not E164.fullmatch(number):
        raise ValueError("From is not an E.164 phone number")
    return kind, number


def _sid(form: Mapping[str, str], *names: str) -> str:
    sid = next((_field(form, name) for name in names if _field(form, name)), "")
    if not sid:
        raise ValueError(f"no {names[0]}")
    if not SID.fullmatch(sid):
        raise ValueError(f"malformed {names[0]}")
    return sid


def _parse_message(channel: str, form: Mapping[str, str]) -> InboundMessage:
    sid = _sid(form, "MessageSid")
    kind, address = _address(_field(form, "From"))
    count_text = _field(form, "NumMedia") or "0"
    if not count_text.isascii() or not count_text.isdigit():
        raise ValueError("NumMedia is not a number")
    count = int(count_text)
    if count > MAX_MEDIA:
        raise ValueError(f"NumMedia over {MAX_MEDIA}")
    media: list[Media] = []
    for index in range(count):
        url = _field(form, f"MediaUrl{index}")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"MediaUrl{index} is not an http(s) URL")
        content_type = _field(form, f"MediaContentType{index}") or OCTET_STREAM
        media.append(Media(content_type=content_type[:255], url=url))
    # A quick-reply button of a template, or a row of a list: its payload is our button id.
    button_id = _field(form, "ButtonPayload") or _field(form, "ListId") or None
    text = (form.get("Body") or "").strip()
    if not text and button_id:
        text = _field(form, "ButtonText") or _field(form, "ListTitle")
    profile_name = _field(form, "ProfileName")[:200] or None
    return InboundMessage(
        channel=channel,
        address_kind=kind,
        address=address,
        provider_id=sid,
        text=text,
        button_id=button_id[:256] if button_id else None,
        media=tuple(media),
        sender_name=profile_name if kind is AddressKind.WHATSAPP else None,
    )


def _parse_status(channel: str, form: Mapping[str, str]) -> list[Inbound]:
    sid = _sid(form, "MessageSid", "SmsSid")
    raw = (_field(form, "MessageStatus") or _field(form, "SmsStatus")).lower()
    if not raw:
        raise ValueError("no MessageStatus")
    status = STATUSES.get(raw)
    if status is None:
        log.info("twilio status %r for %s ignored", raw[:32], sid)
        return []
    error_code = _field(form, "ErrorCode") or None
    if error_code is not None and not ERROR_CODE.fullmatch(error_code):
        raise ValueError("ErrorCode is not a number")
    if error_code is not None and int(error_code) == 0:
        error_code = None
    return [
        StatusUpdate(
            channel=channel,
            provider_id=sid,
            status=status,
            error_code=error_code,
            window_closed=whatsapp_window.refused_for_closed_window(status, error_code),
        )
    ]
