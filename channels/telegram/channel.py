"""The Telegram channel: ties settings, the client, the updates' parsing, rendering, typed
errors and file downloads together; one Bot (one connection pool) for the process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import ClassVar, TypeVar

from telegram import Bot, Message
from telegram.error import InvalidToken, TelegramError

from bot.models import AddressKind, InboundMessage, Media, MessageRef, OutboundMessage
from channels.base import (
    Capabilities,
    Channel,
    Inbound,
    PermanentSendError,
    SendResult,
    WebhookRequest,
    send_parts,
)
from channels.context import ChannelContext
from channels.telegram.bot_api import make_bot, quiet_httpx, reason
from channels.telegram.errors import send_error
from channels.telegram.inbound import CALLBACK_PREFIX, WEBHOOK_PATH, parse_update, signed
from channels.telegram.media import fetch_media
from channels.telegram.outbound import MAX_BUTTONS, MAX_TEXT, render, split
from channels.telegram.settings import SECRET_TOKEN, TelegramSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


class TelegramChannel(Channel):
    name: ClassVar[str] = "telegram"
    address_kinds = (AddressKind.TELEGRAM,)
    capabilities = Capabilities(
        buttons=True, max_buttons=MAX_BUTTONS, max_button_title=64, max_text_length=MAX_TEXT
    )
    webhook_paths = (WEBHOOK_PATH,)
    settings_class = TelegramSettings

    def __init__(self, context: ChannelContext, settings: TelegramSettings) -> None:
        if not settings.bot_token or not settings.secret_token:
            raise ValueError("TELEGRAM_BOT_TOKEN and TELEGRAM_SECRET_TOKEN must be set")
        self.context = context
        self._token = settings.bot_token.get_secret_value()
        self._secret = settings.secret_token.get_secret_value().encode()
        self._api_base = settings.api_base
        self._bot: Bot | None = None
        self._ready = False
        self._init_lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """One Bot (one HTTP connection pool) for the process; `initialize` calls getMe.

        Telegram being unreachable must not stop the gateway: the call is retried on first use.
        """
        quiet_httpx()
        if not SECRET_TOKEN.fullmatch(self._secret.decode()):
            log.warning(
                "TELEGRAM_SECRET_TOKEN has characters Telegram refuses (allowed: A-Z a-z 0-9 _ -)"
            )
        self._bot = make_bot(self._token, self._api_base)
        try:
            await self._initialized()
        except InvalidToken as exc:
            log.error("telegram: the Bot API rejected TELEGRAM_BOT_TOKEN (%s)", self._reason(exc))
        except TelegramError as exc:
            log.warning(
                "telegram: Bot API not reachable at start (%s); retrying on first use",
                self._reason(exc),
            )

    async def close(self) -> None:
        if self._bot is not None:
            try:
                await self._bot.shutdown()
            except TelegramError as exc:  # shutting down must not fail the process's exit
                log.warning("telegram: shutdown: %s", self._reason(exc))
        self._bot, self._ready = None, False

    async def _initialized(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("TelegramChannel.start() was not called")
        if not self._ready:
            async with self._init_lock:
                if not self._ready:
                    await self._bot.initialize()
                    self._ready = True
                    log.info("telegram: connected as @%s", self._bot.username)
        return self._bot

    async def _call(self, call: Awaitable[T]) -> T:
        """Await a Bot API call, turning its errors into the worker's SendErrors."""
        try:
            return await call
        except TelegramError as exc:
            raise send_error(exc, self._token) from exc

    def _reason(self, exc: Exception) -> str:
        return reason(exc, self._token)

    # -- inbound ----------------------------------------------------------------------------
    async def verify(self, request: WebhookRequest) -> bool:
        return signed(self._secret, request.headers)

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        default_language = self.context.profile.default_language
        return parse_update(self.name, request.body, self._bot, default_language)

    async def received(self, message: InboundMessage) -> None:
        """Answer a button press: Telegram shows a spinner on the button until then."""
        if message.provider_id.startswith(CALLBACK_PREFIX):
            await self._answer_callback(message.provider_id.removeprefix(CALLBACK_PREFIX))

    async def _answer_callback(self, callback_id: str) -> None:
        try:
            bot = await self._initialized()
            await bot.answer_callback_query(callback_id)
        except Exception as exc:  # a retried update's query is already answered: harmless
            log.info("telegram: answerCallbackQuery failed: %s", self._reason(exc))

    async def fetch_media(self, media: Media) -> Media:
        """getFile, then download it from the file server and store it (in the worker)."""
        return await fetch_media(
            self._initialized, self._api_base, self._token, self.context.media, media
        )

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
        if kind is not AddressKind.TELEGRAM:
            raise PermanentSendError(f"Telegram cannot reach a {kind} address", code="kind")
        try:
            chat_id = int(address)
        except ValueError:
            raise PermanentSendError("not a Telegram chat id", code="address") from None
        text, markup = render(message)
        parts = split(text)
        bot = await self._call(self._initialized())

        async def send_part(index: int, part: str) -> str:
            last = index == len(parts) - 1
            message_sent: Message = await self._call(
                bot.send_message(chat_id, part, reply_markup=markup if last else None)
            )
            return f"{chat_id}:{message_sent.message_id}"

        sent = await send_parts(parts, already_sent, send_part)
        assert sent
        # The last part's id as before (it carries the buttons); every part's kept.
        return SendResult(provider_id=sent[-1], parts=sent if len(sent) > 1 else ())
