"""The Twilio channel: ties settings, the webhooks' parsing, the client's sends and media
downloads together on one aiohttp session, and answers a closed WhatsApp window with the
profile's approved template."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from bot import whatsapp_window
from bot.models import AddressKind, Media, MessageRef, OutboundMessage
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
from channels.twilio.errors import WindowClosedError
from channels.twilio.inbound import (
    EMPTY_TWIML,
    INBOUND_PATH,
    STATUS_PATH,
    WHATSAPP_PREFIX,
    parse_message,
    signed,
)
from channels.twilio.media import credentials, download, trusted
from channels.twilio.outbound import MAX_BODY, message_requests
from channels.twilio.send import MessagesApi, create_message
from channels.twilio.settings import TwilioSettings
from channels.twilio.statuses import parse_status

log = logging.getLogger(__name__)
WHATSAPP_KINDS = (AddressKind.WHATSAPP, AddressKind.WHATSAPP_USER)


def _content_sid(template: WhatsAppTemplate) -> str | None:
    """What Twilio sends a template by (templates without one are Meta's only)."""
    return template.twilio_content_sid


class TwilioChannel(Channel):
    name: ClassVar[str] = "twilio"
    address_kinds = (AddressKind.WHATSAPP, AddressKind.WHATSAPP_USER, AddressKind.SMS)
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
        self._api = MessagesApi.of(self.account_sid, self._auth_token, self.api_base)

    def phone_kinds(self) -> tuple[AddressKind, ...]:
        """SMS and WhatsApp, each when its sender is configured (SMS first: basic phones)."""
        kinds = ((AddressKind.SMS, self.sms_from), (AddressKind.WHATSAPP, self.whatsapp_from))
        return tuple(kind for kind, sender in kinds if sender)

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is not None:
            return
        # One session for the API's sends and the media downloads, closed in close().
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=60, connect=10),
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    async def _ready(self) -> aiohttp.ClientSession:
        if self._session is None:
            await self.start()
        assert self._session is not None
        return self._session

    # -- inbound ----------------------------------------------------------------------------
    async def verify(self, request: WebhookRequest) -> bool:
        return signed(self._validator, request)

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        if request.path == STATUS_PATH:
            return parse_status(self.name, request.form, request.query)
        if request.path == INBOUND_PATH:
            return [parse_message(self.name, request.form)]
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
        session = await self._ready()
        return await download(
            session,
            media.url,
            media,
            self._media_headers(media.url),
            self.media_timeout,
            self._media_limits,
            self.context.media,
        )

    def _media_headers(self, url: str) -> dict[str, str]:
        return credentials(url, self.account_sid, self._auth_token, self.api_base)

    def _trusted(self, url: str) -> bool:
        """Whether the account's credentials may be sent to this URL (Twilio's API only)."""
        return trusted(url, self.api_base)

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
        whatsapp = kind in WHATSAPP_KINDS
        if whatsapp:  # a number, or the user id of someone who hides theirs
            sender, to = self.whatsapp_from, WHATSAPP_PREFIX + address
        elif kind is AddressKind.SMS:
            sender, to = self.sms_from, address
        else:
            raise PermanentSendError(f"twilio cannot send to a {kind} address", code="kind")
        if sender is None:
            raise PermanentSendError(f"no Twilio sender configured for {kind}", code="no-sender")
        first_callback = self._callback(reference, 0)

        if message.template is not None and whatsapp:
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
                    first_callback,
                    content_sid=template.twilio_content_sid,
                    content_variables=json.dumps(message.template.variables, ensure_ascii=False),
                )
            )

        async def send_part(index: int, fields: dict[str, Any]) -> str:
            return await self._create(to, sender, self._callback(reference, index), **fields)

        try:
            sids = await send_parts(message_requests(kind, message), already_sent, send_part)
        except WindowClosedError as exc:
            if not whatsapp or exc.sent_parts:
                raise
            return SendResult(await self._send_window_template(to, sender, first_callback))
        return SendResult(sids[0], sids if len(sids) > 1 else ())

    def _callback(self, reference: MessageRef | None, part: int) -> str:
        """The status-callback URL of one part: our id in its query, so the report settles
        the message even when its SID was never stored (Twilio signs the URL whole)."""
        if reference is None:
            return self.status_callback
        return f"{self.status_callback}?m={MessageRef(reference.message_id, part)}"

    def window_template(self) -> tuple[str, WhatsAppTemplate] | None:
        """The template for a WhatsApp reply whose 24-hour window has closed, if any."""
        return whatsapp_window.reply_waiting_template(self.context.profile.templates, _content_sid)

    async def _send_window_template(self, to: str, sender: str, callback: str) -> str:
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
                callback,
                content_sid=template.twilio_content_sid,
                content_variables=json.dumps(variables, ensure_ascii=False),
            )
        except WindowClosedError as exc:  # the template itself was refused
            raise PermanentSendError(str(exc), code=exc.code) from exc

    async def _create(self, to: str, sender: str, callback: str, **fields: Any) -> str:
        """One Messages API request; the new message's SID, or a typed SendError."""
        session = await self._ready()
        return await create_message(
            session, self._api, to, sender, callback, self.send_timeout, fields
        )
