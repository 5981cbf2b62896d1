"""WhatsApp through Meta's Cloud API: the Graph API over one shared aiohttp ClientSession.

Why no SDK. pywa (4.5, the best kept Python client) was checked: it depends on httpx for its
HTTP calls and brings its own webhook server integrations (Flask, FastAPI/Starlette), its own
update types and handler dispatch. Here the web server is aiohttp, the pipeline (verify → parse
→ route → acknowledge) is ours, and provider types must not leak out of `channels/`; using
pywa would mean a second HTTP client stack beside aiohttp and translating its types back into
ours. What we need from the Graph API is small and stable: one endpoint to send
(`POST /{phone-number-id}/messages`), two GETs to fetch media, an HMAC check and the
verification handshake. So this module speaks the Graph API directly, over one
`aiohttp.ClientSession` opened in `start()` and shared by every send and download.

Inbound (`POST /webhooks/whatsapp`): `X-Hub-Signature-256` is checked against the app secret
over the raw body; `entry[].changes[].value.messages[]` become `InboundMessage`s (text,
interactive button and list replies, template quick-reply buttons, media by id, placeholders
for locations, contacts and unsupported types) and `value.statuses[]` become `StatusUpdate`s.
Anything addressed to another phone number id is ignored. Media ids travel as
`Media(url="media:<id>")` until the worker's `fetch_media` downloads and stores them.

Outbound: text up to 4,096 characters (longer texts are split); up to three buttons whose
titles fit in 20 characters become reply buttons; up to ten become a list (row titles cut to
24 characters, the full title kept as the row's description); more become numbered text.
The list's opening button shows LIST_BUTTON_LABEL, "☰": the channel does not know the
beneficiary's language (handlers do), the label must not be empty, and the menu symbol reads
the same in Arabic and English, right to left or left to right, with nothing to translate.

Outside the 24-hour customer-service window Meta answers 131047 ("Re-engagement message"):
the message is replaced by the profile's `reply_waiting` template (or the first template with
a `meta_name`), with the association's name as its one body parameter, so the beneficiary is
told a reply is waiting; without such a template the send fails permanently. That rule (the
codes, the template's choice) is bot/whatsapp_window.py's, shared with Twilio and the router.

Error mapping (Meta's error codes): HTTP 5xx, timeouts, connection errors and Meta's
transient codes → RetryableSendError; HTTP 429 and the throughput/pair/spam limits (4, 80007,
130429, 131048, 131056) → ThrottledError; 131050 (the user stopped marketing messages from
this business) → ContactStoppedError; everything else, including 131026 (undeliverable: not
on WhatsApp, old app, or the user blocked the business, which Meta deliberately does not
report as such) and 131051 → PermanentSendError with the code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from bot import metrics, whatsapp_window
from bot.media import MAX_BYTES
from bot.models import (
    AddressKind,
    Button,
    DeliveryStatus,
    InboundMessage,
    Media,
    OutboundMessage,
    StatusUpdate,
    Template,
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
    SendResult,
    ThrottledError,
    WebhookRequest,
)
from channels.context import ChannelContext
from channels.render import numbered_text, split_text

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "x-hub-signature-256"

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_REPLY_BUTTONS = 3
MAX_REPLY_BUTTON_TITLE = 20
MAX_REPLY_BUTTON_ID = 256
MAX_LIST_ROWS = 10
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_ROW_ID = 200
LIST_BUTTON_LABEL = "☰"
ELLIPSIS = "…"
MAX_CHALLENGE = 1024
MAX_PROVIDER_ID = 128  # the messages table's provider_id column

# 131047 (free text outside the 24-hour window) is bot.whatsapp_window's to judge.
THROTTLED_CODES = frozenset({4, 80007, 130429, 131048, 131056})
STOPPED_CODES = frozenset({131050})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
AUTH_CODES = frozenset({0, 190})  # token expired or revoked: retry while an admin fixes it

SEND_TIMEOUT = aiohttp.ClientTimeout(total=20, sock_connect=10)
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=120, sock_connect=10)

MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
_MEDIA_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_WA_ID = re.compile(r"^[0-9]{5,20}$")

_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "played": DeliveryStatus.READ,  # a voice note was played: at least read
    "failed": DeliveryStatus.FAILED,
}


class WindowClosedError(PermanentSendError):
    """Meta 131047: free-form messages are refused more than 24 hours after the user's last."""


# -- helpers ------------------------------------------------------------------------------------
def _header(headers: dict[str, str], name: str) -> str | None:
    """A header by name, whatever its case (the request's headers arrive as a plain dict)."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def signature(secret: str, body: bytes) -> str:
    """The value Meta puts in X-Hub-Signature-256 for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    return value


def _string(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"{where} must be a non-empty string")
    return value


def _timestamp(value: Any) -> datetime:
    """Meta's Unix timestamp (a string of seconds); now when absent or unusable."""
    try:
        seconds = int(str(value))
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return datetime.now(UTC)


# -- rendering ----------------------------------------------------------------------------------
def render(message: OutboundMessage) -> list[dict[str, Any]]:
    """The Graph API message objects (without `messaging_product` and `to`) for one message,
    in sending order: media first, then the text, whose last part carries the buttons."""
    payloads: list[dict[str, Any]] = [_media_payload(m) for m in message.media if m.url]
    buttons = message.buttons
    if buttons and not (_fits_reply_buttons(buttons) or _fits_list(buttons)):
        text, buttons = numbered_text(message), ()
    else:
        text = message.text
    if not buttons:
        payloads.extend(
            {"type": "text", "text": {"preview_url": False, "body": part}}
            for part in split_text(text, MAX_TEXT)
            if part.strip()
        )
        return payloads
    parts = split_text(text, MAX_TEXT) if text.strip() else [LIST_BUTTON_LABEL]
    tail = split_text(parts.pop(), MAX_INTERACTIVE_BODY)
    body = tail.pop()
    payloads.extend(
        {"type": "text", "text": {"preview_url": False, "body": part}}
        for part in parts + tail
        if part.strip()
    )
    payloads.append({"type": "interactive", "interactive": _interactive(body, buttons)})
    return payloads


def _fits_reply_buttons(buttons: tuple[Button, ...]) -> bool:
    titles = [b.title for b in buttons]
    return (
        len(buttons) <= MAX_REPLY_BUTTONS
        and all(0 < len(t) <= MAX_REPLY_BUTTON_TITLE for t in titles)
        and len(set(titles)) == len(titles)  # Meta wants the reply buttons' titles unique
        and all(0 < len(b.id) <= MAX_REPLY_BUTTON_ID for b in buttons)
        and len({b.id for b in buttons}) == len(buttons)
    )


def _fits_list(buttons: tuple[Button, ...]) -> bool:
    return (
        len(buttons) <= MAX_LIST_ROWS
        and all(0 < len(b.id) <= MAX_ROW_ID and b.title.strip() for b in buttons)
        and len({b.id for b in buttons}) == len(buttons)
    )


def _interactive(body: str, buttons: tuple[Button, ...]) -> dict[str, Any]:
    if _fits_reply_buttons(buttons):
        return {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons
                ]
            },
        }
    rows: list[dict[str, Any]] = []
    for b in buttons:
        row = {"id": b.id, "title": _truncate(b.title, MAX_ROW_TITLE)}
        if len(b.title) > MAX_ROW_TITLE:
            row["description"] = _truncate(b.title, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "list",
        "body": {"text": body},
        "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]},
    }


def _media_payload(media: Media) -> dict[str, Any]:
    main = media.content_type.split("/", 1)[0]
    kind = main if main in ("image", "audio", "video") else "document"
    content: dict[str, Any] = {"link": media.url}
    if kind == "document" and media.filename:
        content["filename"] = media.filename
    return {"type": kind, kind: content}


def template_payload(meta_name: str, language: str, variables: dict[str, str]) -> dict[str, Any]:
    """A template message; variables "1", "2"… are positional, other names are named ones."""
    template: dict[str, Any] = {"name": meta_name, "language": {"code": language}}
    if variables:
        if all(key.isdigit() for key in variables):
            parameters = [
                {"type": "text", "text": variables[key]} for key in sorted(variables, key=int)
            ]
        else:
            parameters = [
                {"type": "text", "parameter_name": key, "text": value}
                for key, value in variables.items()
            ]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": template}


def _meta_name(template: WhatsAppTemplate) -> str | None:
    """What Meta sends a template by (templates without one are Twilio's only)."""
    return template.meta_name


# -- the channel --------------------------------------------------------------------------------
class WhatsAppSettings(ChannelSettings):
    """WHATSAPP_*: the Cloud API's access token, the business phone number's id, the app
    secret that signs webhooks, and the verify token of Meta's webhook handshake."""

    model_config = SettingsConfigDict(env_prefix="WHATSAPP_")
    required = ("token", "phone_number_id", "app_secret")

    token: SecretStr | None = None
    phone_number_id: str | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    api_base: str = "https://graph.facebook.com/v21.0"


class WhatsAppCloudChannel(Channel):
    name: ClassVar[str] = "whatsapp"
    address_kinds = (AddressKind.WHATSAPP,)
    capabilities = Capabilities(
        buttons=True,
        max_buttons=MAX_LIST_ROWS,
        max_button_title=MAX_ROW_TITLE,
        max_text_length=MAX_TEXT,
        media=True,
        templates=True,
    )
    webhook_paths = (WEBHOOK_PATH,)
    settings_class = WhatsAppSettings

    def __init__(self, context: ChannelContext, settings: WhatsAppSettings) -> None:
        if not (settings.token and settings.phone_number_id and settings.app_secret):
            raise ValueError(
                "WhatsApp needs WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_APP_SECRET"
            )
        self.context = context
        self._token = settings.token.get_secret_value()
        self._app_secret = settings.app_secret.get_secret_value().encode()
        self._verify_token = (
            settings.verify_token.get_secret_value() if settings.verify_token else None
        )
        self.phone_number_id = settings.phone_number_id
        self.api_base = settings.api_base.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def phone_kinds(self) -> tuple[AddressKind, ...]:
        """A WhatsApp number is a phone number: a code can go to it before it writes."""
        return (AddressKind.WHATSAPP,)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._http()
        if self._verify_token is None:
            log.warning("WHATSAPP_VERIFY_TOKEN is unset: Meta's webhook verification will fail")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The one session every send and download shares (opened lazily if start was not
        called, e.g. by a one-off command)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    # -- the verification handshake ---------------------------------------------------------
    def extra_routes(self) -> list[web.AbstractRouteDef]:
        return [web.get(WEBHOOK_PATH, self._handshake)]

    async def _handshake(self, request: web.Request) -> web.Response:
        mode = request.query.get("hub.mode", "")
        token = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        if (
            self._verify_token is not None
            and mode == "subscribe"
            and 0 < len(challenge) <= MAX_CHALLENGE
            and hmac.compare_digest(token.encode(), self._verify_token.encode())
        ):
            return web.Response(text=challenge, content_type="text/plain")
        metrics.WEBHOOK_REJECTED.labels(self.name, "verify_token").inc()
        log.warning("whatsapp verification handshake refused from %s", request.remote)
        return web.Response(status=403, text="forbidden")

    # -- inbound ----------------------------------------------------------------------------
    async def verify(self, request: WebhookRequest) -> bool:
        provided = _header(request.headers, SIGNATURE_HEADER)
        if not provided or not provided.startswith("sha256="):
            return False
        expected = hmac.new(self._app_secret, request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(
            expected.encode(), provided[len("sha256=") :].strip().lower().encode("utf-8")
        )

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:
            raise ValueError("body is not JSON") from exc
        data = _object(data, "body")
        found: list[Inbound] = []
        for entry in _list(data.get("entry"), "entry"):
            for change in _list(_object(entry, "entry[]").get("changes"), "changes"):
                change = _object(change, "changes[]")
                value = change.get("value")
                if change.get("field", "messages") != "messages" or value is None:
                    continue
                found.extend(self._parse_value(_object(value, "value")))
        return found

    def _parse_value(self, value: dict[str, Any]) -> list[Inbound]:
        metadata = value.get("metadata")
        number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
        if str(number_id) != self.phone_number_id:
            log.info("whatsapp webhook for phone number id %r ignored", number_id)
            return []
        names: dict[str, str] = {}
        for contact in _list(value.get("contacts"), "contacts"):
            contact = _object(contact, "contacts[]")
            profile = contact.get("profile")
            name = profile.get("name") if isinstance(profile, dict) else None
            if isinstance(contact.get("wa_id"), str) and isinstance(name, str) and name.strip():
                names[contact["wa_id"]] = name.strip()
        found: list[Inbound] = []
        for item in _list(value.get("messages"), "messages"):
            message = self._parse_message(_object(item, "messages[]"), names)
            if message is not None:
                found.append(message)
        for item in _list(value.get("statuses"), "statuses"):
            status = self._parse_status(_object(item, "statuses[]"))
            if status is not None:
                found.append(status)
        return found

    def _parse_message(self, item: dict[str, Any], names: dict[str, str]) -> InboundMessage | None:
        sender = _string(item.get("from"), "messages[].from")
        if not _WA_ID.match(sender):
            raise ValueError("messages[].from must be a phone number's digits")
        wamid = _string(item.get("id"), "messages[].id")
        if len(wamid) > MAX_PROVIDER_ID:
            raise ValueError("messages[].id is too long")
        kind = _string(item.get("type"), "messages[].type")
        text, button_id = "", None
        media: tuple[Media, ...] = ()
        if kind == "text":
            text = _string(_object(item.get("text"), "text").get("body"), "text.body")
        elif kind == "interactive":
            text, button_id = self._interactive_reply(_object(item.get("interactive"), kind))
        elif kind == "button":  # a template's quick-reply button
            button = _object(item.get("button"), kind)
            text = _string(button.get("text"), "button.text", required=False)
            button_id = _string(button.get("payload"), "button.payload", required=False) or None
        elif kind in MEDIA_TYPES:
            content = _object(item.get(kind), kind)
            media_id = _string(content.get("id"), f"{kind}.id")
            if not _MEDIA_ID.match(media_id):
                raise ValueError(f"{kind}.id is not a media id")
            mime = _string(content.get("mime_type"), f"{kind}.mime_type", required=False)
            filename = _string(content.get("filename"), f"{kind}.filename", required=False)
            text = _string(content.get("caption"), f"{kind}.caption", required=False)
            media = (
                Media(
                    content_type=mime or "application/octet-stream",
                    url=f"media:{media_id}",
                    filename=filename or None,
                ),
            )
        elif kind == "location":
            text = self._location_text(_object(item.get("location"), kind))
        elif kind == "contacts":
            text = self._contacts_text(_list(item.get("contacts"), kind))
        elif kind in ("reaction", "system", "ephemeral", "request_welcome"):
            return None  # not something said to us: nothing to answer
        else:
            text = f"[{kind}]"  # unsupported: the router answers with the menu
        if button_id is not None and len(button_id) > MAX_REPLY_BUTTON_ID:
            raise ValueError("button id is too long")
        return InboundMessage(
            channel=self.name,
            address_kind=AddressKind.WHATSAPP,
            address="+" + sender,
            provider_id=wamid,
            text=text.strip(),
            button_id=button_id,
            media=media,
            sender_name=names.get(sender),
            received_at=_timestamp(item.get("timestamp")),
        )

    @staticmethod
    def _interactive_reply(interactive: dict[str, Any]) -> tuple[str, str | None]:
        kind = interactive.get("type")
        if kind in ("button_reply", "list_reply"):
            reply = _object(interactive.get(kind), str(kind))
            title = _string(reply.get("title"), f"{kind}.title", required=False)
            return title, _string(reply.get("id"), f"{kind}.id")
        return f"[interactive:{kind}]", None

    @staticmethod
    def _location_text(location: dict[str, Any]) -> str:
        parts = [
            str(location[key]) for key in ("name", "address") if isinstance(location.get(key), str)
        ]
        latitude, longitude = location.get("latitude"), location.get("longitude")
        if isinstance(latitude, int | float) and isinstance(longitude, int | float):
            parts.append(f"https://maps.google.com/?q={latitude},{longitude}")
        return "[location] " + " ".join(parts)

    @staticmethod
    def _contacts_text(contacts: list[Any]) -> str:
        parts: list[str] = []
        for contact in contacts:
            if not isinstance(contact, dict):
                continue
            name = contact.get("name")
            if isinstance(name, dict) and isinstance(name.get("formatted_name"), str):
                parts.append(name["formatted_name"])
            phones = contact.get("phones")
            for phone in phones if isinstance(phones, list) else []:
                if isinstance(phone, dict) and isinstance(phone.get("phone"), str):
                    parts.append(phone["phone"])
        return "[contacts] " + " ".join(parts)

    def _parse_status(self, item: dict[str, Any]) -> StatusUpdate | None:
        wamid = _string(item.get("id"), "statuses[].id")
        status = _STATUSES.get(str(item.get("status")))
        if status is None or len(wamid) > MAX_PROVIDER_ID:
            return None  # a status we do not track ("deleted", "warning", …)
        code: str | None = None
        errors = item.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            raw = errors[0].get("code")
            if isinstance(raw, int | str) and not isinstance(raw, bool):
                code = str(raw)[:32]
        return StatusUpdate(
            channel=self.name,
            provider_id=wamid,
            status=status,
            error_code=code,
            at=_timestamp(item.get("timestamp")),
            window_closed=whatsapp_window.refused_for_closed_window(status, code),
        )

    # -- media ------------------------------------------------------------------------------
    async def fetch_media(self, media: Media) -> Media:
        """Look the media id up, download it with the token and store it (in the worker)."""
        if media.stored_path or not media.url or not media.url.startswith("media:"):
            return media
        media_id = media.url.removeprefix("media:")
        try:
            session = self._http()
            async with session.get(
                f"{self.api_base}/{media_id}", headers=self._auth, timeout=SEND_TIMEOUT
            ) as response:
                if response.status != 200:
                    raise _media_error("media lookup", response.status)
                info = await response.json(content_type=None)
            url = info.get("url") if isinstance(info, dict) else None
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise MediaFetchError("media lookup gave no download URL")
            content_type = media.content_type
            if content_type == "application/octet-stream" and isinstance(
                info.get("mime_type"), str
            ):
                content_type = info["mime_type"]
            async with session.get(url, headers=self._auth, timeout=MEDIA_TIMEOUT) as response:
                if response.status != 200:
                    raise _media_error("media download", response.status)
                data = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data.extend(chunk)
                    if len(data) > MAX_BYTES:
                        raise PermanentMediaError(f"media over {MAX_BYTES} bytes")
        except MediaFetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise MediaFetchError(f"whatsapp media {media_id}: {exc!r}") from exc
        saved = await self.context.media.save(bytes(data), content_type, media.filename)
        return dataclasses.replace(saved, url=media.url)

    # -- outbound ---------------------------------------------------------------------------
    async def send(self, kind: AddressKind, address: str, message: OutboundMessage) -> SendResult:
        if kind is not AddressKind.WHATSAPP:
            raise PermanentSendError(f"WhatsApp cannot reach a {kind} address")
        to = address.removeprefix("whatsapp:").removeprefix("+")
        if not _WA_ID.match(to):
            raise PermanentSendError(f"not a WhatsApp number: {address!r}", code="bad-address")
        if message.template is not None:
            return SendResult(await self._post(to, self._template(message.template)))
        payloads = render(message)
        if not payloads:
            raise PermanentSendError("nothing to send", code="empty")
        provider_id = ""
        try:
            for payload in payloads:
                provider_id = await self._post(to, payload)
        except WindowClosedError:
            return SendResult(await self._post(to, self._window_template()))
        return SendResult(provider_id)

    def _template(self, template: Template) -> dict[str, Any]:
        configured = whatsapp_window.template_to_send(
            template.name, self.context.profile.templates, _meta_name
        )
        if configured is None or configured.meta_name is None:
            raise PermanentSendError(
                f"template {template.name!r} has no meta_name in the profile", code="template"
            )
        return template_payload(configured.meta_name, configured.language, template.variables)

    def _window_template(self) -> dict[str, Any]:
        """The template that tells a beneficiary outside the 24-hour window a reply waits."""
        found = whatsapp_window.reply_waiting_template(self.context.profile.templates, _meta_name)
        chosen = found[1] if found is not None else None
        if chosen is None or chosen.meta_name is None:
            raise PermanentSendError(
                "outside the 24-hour window and the profile has no Meta template",
                code=str(whatsapp_window.META_WINDOW_CLOSED),
            )
        name = self.context.profile.name.get(chosen.language)
        return template_payload(chosen.meta_name, chosen.language, {"1": name})

    async def _post(self, to: str, payload: dict[str, Any]) -> str:
        """POST one message; the wamid, or a typed SendError."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
        body.update(payload)
        url = f"{self.api_base}/{self.phone_number_id}/messages"
        try:
            async with self._http().post(
                url, json=body, headers=self._auth, timeout=SEND_TIMEOUT
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableSendError(f"WhatsApp API unreachable: {exc!r}", code="network") from exc
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        if status == 200 and isinstance(data, dict):
            messages = data.get("messages")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict):
                wamid = messages[0].get("id")
                if isinstance(wamid, str) and wamid:
                    return wamid
        error = data.get("error") if isinstance(data, dict) else None
        raise self._error(status, error if isinstance(error, dict) else {})

    @staticmethod
    def _error(status: int, error: dict[str, Any]) -> Exception:
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        text = str(error.get("message") or f"HTTP {status}")[:300]
        details = error.get("error_data")
        if isinstance(details, dict) and isinstance(details.get("details"), str):
            text = f"{text}: {details['details'][:300]}"
        label = str(code) if code is not None else f"http-{status}"
        message = f"WhatsApp API error {label}: {text}"
        if whatsapp_window.means_closed(code):
            return WindowClosedError(message, code=label)
        if status == 429 or code in THROTTLED_CODES:
            return ThrottledError(message, code=label)
        if code in STOPPED_CODES:
            return ContactStoppedError(message, code=label)
        if status >= 500 or code in TRANSIENT_CODES:
            return RetryableSendError(message, code=label)
        if status == 401 or code in AUTH_CODES:
            log.error("WhatsApp rejected the access token (%s): check WHATSAPP_TOKEN", label)
            return RetryableSendError(message, code=label)
        if status == 200:
            return RetryableSendError(f"WhatsApp API answered without a message id: {text}")
        return PermanentSendError(message, code=label)


def _media_error(step: str, status: int) -> MediaFetchError:
    """Meta's answer to a media lookup or download: 4xx (an unknown or expired id) is final;
    a refused token (it may be renewed), throttling and server errors are tried again."""
    if 400 <= status < 500 and status not in (401, 429):
        return PermanentMediaError(f"{step} answered {status}")
    return MediaFetchError(f"{step} answered {status}")
