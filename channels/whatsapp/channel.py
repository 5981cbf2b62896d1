"""The WhatsApp Cloud channel: ties settings, the webhook's parsing, rendering, sending and
media downloads together over one aiohttp session, and holds the 24-hour window rule's use."""

from __future__ import annotations

import hmac
import logging
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from bot import metrics, whatsapp_window
from bot.models import AddressKind, Media, MessageRef, OutboundMessage, Template
from bot.profile import WhatsAppTemplate
from channels.base import (
    MAX_CONNECTIONS,
    Capabilities,
    Channel,
    Inbound,
    PermanentSendError,
    SendResult,
    WebhookRequest,
    send_parts,
)
from channels.context import ChannelContext
from channels.whatsapp.errors import WindowClosedError
from channels.whatsapp.inbound import BSUID, WA_ID, WEBHOOK_PATH, parse_webhook, signed
from channels.whatsapp.limits import MAX_CHALLENGE, MAX_LIST_ROWS, MAX_ROW_TITLE, MAX_TEXT
from channels.whatsapp.media import fetch_media
from channels.whatsapp.outbound import render, template_payload
from channels.whatsapp.send import post_message
from channels.whatsapp.settings import WhatsAppSettings

log = logging.getLogger(__name__)


def _meta_name(template: WhatsAppTemplate) -> str | None:
    """What Meta sends a template by (templates without one are Twilio's only)."""
    return template.meta_name


def _recipient(kind: AddressKind, address: str) -> dict[str, str]:
    """Where a message to this address goes: a phone number's digits in `to`, a user id in
    `recipient`. A group is never answered (its messages are recorded for staff only)."""
    if kind is AddressKind.WHATSAPP:
        digits = address.removeprefix("whatsapp:").removeprefix("+")
        if WA_ID.match(digits):
            return {"to": digits}
        raise PermanentSendError(f"not a WhatsApp number: {address!r}", code="bad-address")
    if kind is AddressKind.WHATSAPP_USER:
        if BSUID.match(address):
            return {"recipient": address}
        raise PermanentSendError("not a WhatsApp user id", code="bad-address")
    if kind is AddressKind.WHATSAPP_GROUP:
        raise PermanentSendError("WhatsApp groups are not answered", code="group")
    raise PermanentSendError(f"WhatsApp cannot reach a {kind} address")


def _opaque(reference: MessageRef | None, part: int) -> str | None:
    """Our id of one part, as biz_opaque_callback_data (at most 512 characters)."""
    return None if reference is None else str(MessageRef(reference.message_id, part))


class WhatsAppCloudChannel(Channel):
    name: ClassVar[str] = "whatsapp"
    address_kinds = (AddressKind.WHATSAPP, AddressKind.WHATSAPP_USER, AddressKind.WHATSAPP_GROUP)
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
            self._session = aiohttp.ClientSession(
                raise_for_status=False, connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
            )
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
        return signed(self._app_secret, request.headers, request.body)

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        return parse_webhook(self.name, self.phone_number_id, request.body)

    # -- media ------------------------------------------------------------------------------
    async def fetch_media(self, media: Media) -> Media:
        """Look the media id up, download it with the token and store it (in the worker)."""
        return await fetch_media(self._http, self.api_base, self._auth, self.context.media, media)

    # -- outbound ---------------------------------------------------------------------------
    async def send(
        self,
        kind: AddressKind,
        address: str,
        message: OutboundMessage,
        *,
        reference: MessageRef | None = None,
        already_sent: tuple[str, ...] = (),
    ) -> SendResult:
        to = _recipient(kind, address)
        first = _opaque(reference, 0)
        if message.template is not None:
            return SendResult(await self._post(to, self._template(message.template), first))
        payloads = render(message)
        if not payloads:
            raise PermanentSendError("nothing to send", code="empty")

        async def send_part(index: int, payload: dict[str, Any]) -> str:
            return await self._post(to, payload, _opaque(reference, index))

        try:
            wamids = await send_parts(payloads, already_sent, send_part)
        except WindowClosedError as exc:
            if exc.sent_parts:  # the window closed between two parts: the rest waits
                raise
            return SendResult(await self._post(to, self._window_template(), first))
        # The last part's id as before (it carries the buttons); every part's kept.
        return SendResult(wamids[-1], wamids if len(wamids) > 1 else ())

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

    async def _post(self, to: dict[str, str], payload: dict[str, Any], opaque: str | None) -> str:
        """POST one message; the wamid, or a typed SendError. `opaque` (our id) goes as
        biz_opaque_callback_data, which Meta echoes in the message's status webhooks."""
        if opaque is not None:
            payload = {**payload, "biz_opaque_callback_data": opaque}
        url = f"{self.api_base}/{self.phone_number_id}/messages"
        return await post_message(self._http(), url, self._auth, to, payload)
