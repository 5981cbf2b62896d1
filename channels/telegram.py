"""Telegram through the Bot API, with python-telegram-bot (22.x) as the client.

Telegram posts each update to `POST /webhooks/telegram` with the secret token given to
`setWebhook` in the `X-Telegram-Bot-Api-Secret-Token` header; that header is the whole
authentication. Updates are decoded with `telegram.Update.de_json` and become
`InboundMessage`s: messages (text, captions, photos, documents, voice notes) and inline-keyboard
presses (`callback_query`). Edited messages, group chats and other update kinds are
acknowledged and dropped.

Replies go out with `sendMessage`: buttons as an inline keyboard (one per row, the button id
as `callback_data`), long texts split at 4,096 characters. No python-telegram-bot type leaves
this module: the router sees `InboundMessage`, the worker sees `SendError`s.

`TELEGRAM_API_BASE` points the client at another Bot API server (a local `telegram-bot-api`,
or a fake in tests). Its format is python-telegram-bot's `base_url`: `<server>/bot`, to which
the token is appended; files are fetched from `<server>/file/bot<token>/<path>`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import mimetypes
import os
import re
import warnings
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.i18n import GREETING_WORDS, LANGUAGES, translator
from bot.media import MAX_BYTES
from bot.models import AddressKind, InboundMessage, Media, OutboundMessage
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

# python-telegram-bot 22.2+ warns that time periods (RetryAfter.retry_after) become timedeltas
# in its next major version; opt in now (the code below reads either form).
os.environ.setdefault("PTB_TIMEDELTA", "true")

T = TypeVar("T")

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_BASE = "https://api.telegram.org/bot"
ALLOWED_UPDATES = ("message", "callback_query")
MAX_TEXT = 4096  # Telegram counts UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTONS = 20
CALLBACK_PREFIX = "cb:"
FILE_PREFIX = "tg-file:"
# setWebhook's secret_token: 1-256 characters of A-Z, a-z, 0-9, "_" and "-".
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
START_COMMAND = re.compile(r"/start(?:@\w+)?(?:\s.*)?", re.DOTALL)


class TelegramSetupError(RuntimeError):
    """Setting the webhook failed; the message says why, for the administrator."""


def api_bases(api_base: str | None) -> tuple[str, str]:
    """python-telegram-bot's `base_url` and `base_file_url` for TELEGRAM_API_BASE.

    "<server>/bot" is the documented format; "<server>" alone is accepted too."""
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    if not base.endswith("/bot"):
        base += "/bot"
    return base, base.removesuffix("/bot") + "/file/bot"


def _make_bot(token: str, api_base: str | None) -> Bot:
    base_url, base_file_url = api_bases(api_base)
    request = HTTPXRequest(
        connection_pool_size=64, read_timeout=10.0, connect_timeout=5.0, pool_timeout=5.0
    )
    return Bot(token, base_url=base_url, base_file_url=base_file_url, request=request)


def _quiet_httpx() -> None:
    """httpx logs every request's URL at INFO, and Bot API URLs contain the bot token."""
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:
        httpx_log.setLevel(logging.WARNING)


class TelegramSettings(ChannelSettings):
    """TELEGRAM_*: the bot's token, the secret Telegram sends back with every update, and the
    Bot API's address (a fake one in tests)."""

    model_config = SettingsConfigDict(env_prefix="TELEGRAM_")
    required = ("bot_token", "secret_token")

    bot_token: SecretStr | None = None
    secret_token: SecretStr | None = None
    api_base: str | None = None


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
        _quiet_httpx()
        if not SECRET_TOKEN.fullmatch(self._secret.decode()):
            log.warning(
                "TELEGRAM_SECRET_TOKEN has characters Telegram refuses (allowed: A-Z a-z 0-9 _ -)"
            )
        self._bot = _make_bot(self._token, self._api_base)
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
            raise _send_error(exc, self._token) from exc

    def _reason(self, exc: Exception) -> str:
        return _redact(exc.message if isinstance(exc, TelegramError) else str(exc), self._token)

    # -- inbound ----------------------------------------------------------------------------
    async def verify(self, request: WebhookRequest) -> bool:
        given = next(
            (v for k, v in request.headers.items() if k.lower() == SECRET_HEADER.lower()), None
        )
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._secret)

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        data = _json_object(request.body)
        update_id = data.get("update_id")
        if type(update_id) is not int:
            raise ValueError("update_id must be an integer")
        # Only the kinds we answer are decoded: edited messages, channel posts, member updates
        # are acknowledged unread (a field newer than this client there cannot make us 400).
        kind = next((k for k in ALLOWED_UPDATES if data.get(k) is not None), None)
        if kind is None:
            return []
        try:
            update = Update.de_json({"update_id": update_id, kind: data[kind]}, self._bot)
        except Exception as exc:  # de_json raises whatever the malformed field provokes
            raise ValueError(f"not a Telegram update: {type(exc).__name__}") from exc
        try:
            if update.message is not None:
                message = self._from_message(update_id, update.message)
            elif update.callback_query is not None:
                message = self._from_callback(update)
            else:
                return []  # edited messages, channel posts, member updates: nothing to answer
        except (AttributeError, TypeError) as exc:
            raise ValueError(f"malformed Telegram update: {exc}") from exc
        return [message] if message is not None else []

    def _from_message(self, update_id: int, message: Message) -> InboundMessage | None:
        chat = message.chat
        _require(type(chat.id) is int, "chat.id must be an integer")
        if chat.type != "private":
            return None  # the bot serves beneficiaries one to one, never in groups
        user = message.from_user
        text = _optional_str(message.text, "text") or _optional_str(message.caption, "caption")
        media = _media(message)
        if message.contact is not None and not text:
            text = _optional_str(message.contact.phone_number, "contact.phone_number")
        if text and START_COMMAND.fullmatch(text.strip()):
            # Telegram's Start button (and deep links) send "/start [payload]". Matching would
            # read it as "start", the opt-in word; it means "hello", so the menu greets.
            text = self._greeting(user)
        if not text and not media and not _answerable_without_text(message):
            return None  # service messages (pinned, payments…) are not the beneficiary's words
        return InboundMessage(
            channel=self.name,
            address_kind=AddressKind.TELEGRAM,
            address=str(chat.id),
            provider_id=str(update_id),
            text=(text or "").strip(),
            media=media,
            sender_name=_full_name(user),
        )

    def _from_callback(self, update: Update) -> InboundMessage | None:
        query = update.callback_query
        assert query is not None
        _require(isinstance(query.id, str) and 0 < len(query.id) <= 64, "callback_query.id")
        data = _optional_str(query.data, "callback_query.data")
        if not data:
            return None  # game callbacks carry no data; nothing of ours was pressed
        user = query.from_user
        _require(type(user.id) is int, "callback_query.from.id must be an integer")
        chat_id: int = user.id  # a private chat's id is the user's id
        title = ""
        shown = query.message
        if shown is not None:
            _require(type(shown.chat.id) is int, "message.chat.id must be an integer")
            if shown.chat.type != "private":
                return None
            chat_id = shown.chat.id
            markup = getattr(shown, "reply_markup", None)
            for row in getattr(markup, "inline_keyboard", ()) or ():
                for button in row:
                    if button.callback_data == data and isinstance(button.text, str):
                        title = button.text
        return InboundMessage(
            channel=self.name,
            address_kind=AddressKind.TELEGRAM,
            address=str(chat_id),
            provider_id=CALLBACK_PREFIX + query.id,
            text=title.strip(),
            button_id=data,
            sender_name=_full_name(user),
        )

    def _greeting(self, user: User | None) -> str:
        """A greeting word in the beneficiary's app language (else the profile's), so that a
        new contact is answered in the language their Telegram shows."""
        code = user.language_code if user is not None else None
        language = code.split("-")[0].lower() if isinstance(code, str) else ""
        if language not in LANGUAGES:
            language = self.context.profile.default_language
        words = translator(language).gettext(GREETING_WORDS)
        return re.split("[,\u060c]", words)[0].strip() or "hi"

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
        if not media.url or not media.url.startswith(FILE_PREFIX) or media.stored_path:
            return media
        file_id = media.url.removeprefix(FILE_PREFIX)
        try:
            bot = await self._initialized()
            file = await bot.get_file(file_id)
            if file.file_size is not None and file.file_size > MAX_BYTES:
                raise PermanentMediaError(f"telegram: attachment of {file.file_size} bytes")
            # A file path outside the file server would make the client read a local file.
            if not (file.file_path or "").startswith(api_bases(self._api_base)[1]):
                raise PermanentMediaError("telegram: getFile gave an unexpected file path")
            data = bytes(await file.download_as_bytearray())
        except BadRequest as exc:  # an unknown file id: asking again gives the same answer
            raise PermanentMediaError(f"telegram: {self._reason(exc)}") from exc
        except TelegramError as exc:
            raise MediaFetchError(f"telegram: {self._reason(exc)}") from exc
        saved = await self.context.media.save(data, media.content_type, media.filename)
        return replace(media, stored_path=saved.stored_path)

    # -- outbound ---------------------------------------------------------------------------
    async def send(self, kind: AddressKind, address: str, message: OutboundMessage) -> SendResult:
        if kind is not AddressKind.TELEGRAM:
            raise PermanentSendError(f"Telegram cannot reach a {kind} address", code="kind")
        try:
            chat_id = int(address)
        except ValueError:
            raise PermanentSendError("not a Telegram chat id", code="address") from None
        text, markup = _render(message)
        parts = _split(text)
        bot = await self._call(self._initialized())
        sent: Message | None = None
        for number, part in enumerate(parts, 1):
            sent = await self._call(
                bot.send_message(
                    chat_id, part, reply_markup=markup if number == len(parts) else None
                )
            )
        assert sent is not None
        return SendResult(provider_id=f"{chat_id}:{sent.message_id}")


# -- parsing helpers -------------------------------------------------------------------------
def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("body is not JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"malformed Telegram update: {what}")


def _optional_str(value: object, what: str) -> str | None:
    _require(value is None or isinstance(value, str), f"{what} must be a string")
    return value  # type: ignore[return-value]


def _full_name(user: User | None) -> str | None:
    if user is None:
        return None
    names = [n for n in (user.first_name, user.last_name) if isinstance(n, str) and n.strip()]
    return " ".join(names)[:200] or None


def _answerable_without_text(message: Message) -> bool:
    """Things a person sends that carry no text we can read: answered with "not understood"
    and the menu, never silence."""
    return any(
        getattr(message, kind, None) is not None
        for kind in ("sticker", "location", "venue", "poll", "dice", "animation")
    )


def _media(message: Message) -> tuple[Media, ...]:
    """Attachments as `tg-file:<file_id>` media; the photo in its largest size."""
    found: list[tuple[Any, str, str | None]] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width or 0) * (p.height or 0))
        found.append((largest, "image/jpeg", None))
    for kind, default_type in (
        ("document", "application/octet-stream"),
        ("voice", "audio/ogg"),
        ("audio", "audio/mpeg"),
        ("video", "video/mp4"),
        ("video_note", "video/mp4"),
    ):
        item = getattr(message, kind, None)
        if item is None:
            continue
        filename = _optional_str(getattr(item, "file_name", None), f"{kind}.file_name")
        content_type = _optional_str(getattr(item, "mime_type", None), f"{kind}.mime_type")
        if not content_type and filename:
            content_type = mimetypes.guess_type(filename)[0]
        found.append((item, content_type or default_type, filename))
    media = []
    for item, content_type, filename in found:
        file_id = _optional_str(item.file_id, "file_id")
        _require(bool(file_id) and len(file_id or "") <= 512, "file_id")
        media.append(
            Media(content_type=content_type, url=FILE_PREFIX + str(file_id), filename=filename)
        )
    return tuple(media)


# -- sending helpers -------------------------------------------------------------------------
def _render(message: OutboundMessage) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and an inline keyboard, one button per row; a numbered list instead when a
    button cannot be a keyboard button (its id over 64 bytes, or too many of them)."""
    text = message.text
    links = [m.url for m in message.media if m.url and m.url.startswith(("https://", "http://"))]
    if links:
        text = "\n".join([text, *links])
    buttons = message.buttons
    if not buttons:
        return text, None
    usable = len(buttons) <= MAX_BUTTONS and all(
        0 < len(b.id.encode()) <= MAX_CALLBACK_DATA and b.title.strip() for b in buttons
    )
    if not usable:
        log.warning("telegram: buttons sent as a numbered list (ids over 64 bytes or too many)")
        return numbered_text(replace(message, text=text)), None
    keyboard = [[InlineKeyboardButton(b.title, callback_data=b.id)] for b in buttons]
    return text, InlineKeyboardMarkup(keyboard)


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _split(text: str) -> list[str]:
    if not text.strip():
        raise PermanentSendError("Telegram cannot send an empty message", code="empty")
    if _utf16_length(text) <= MAX_TEXT:
        return [text]
    # Characters outside the BMP (emoji) count twice; half the limit is safe for any text.
    limit = MAX_TEXT if _utf16_length(text) == len(text) else MAX_TEXT // 2
    return [part for part in split_text(text, limit) if part.strip()]


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _redact(text: str, token: str) -> str:
    """Error texts can quote the bot token (and URLs contain it): never log it."""
    return text.replace(token, "<TELEGRAM_BOT_TOKEN>") if token else text


def _send_error(exc: TelegramError, token: str) -> SendError:
    """The Bot API's errors as the worker's: retry, slow down, stop the contact, or give up."""
    reason = _redact(exc.message, token)
    if isinstance(exc, RetryAfter):
        seconds = _retry_after_seconds(exc)
        return ThrottledError(f"Telegram flood control: retry after {seconds:g} s", code="429")
    if isinstance(exc, Forbidden):  # blocked by the user, or the account is deactivated
        return ContactStoppedError(f"Telegram: {reason}", code="403")
    if isinstance(exc, InvalidToken):
        return PermanentSendError(f"Telegram rejected the bot token: {reason}", code="401")
    if isinstance(exc, ChatMigrated):
        return PermanentSendError("Telegram: the chat moved to a supergroup", code="migrated")
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest is a subclass of it
        return PermanentSendError(f"Telegram: {reason}", code="400")
    if isinstance(exc, TimedOut):
        return RetryableSendError(f"Telegram timed out: {reason}", code="timeout")
    if isinstance(exc, NetworkError):
        return RetryableSendError(f"Telegram unreachable: {reason}", code="network")
    return RetryableSendError(f"Telegram: {reason}", code="telegram")


# -- administration --------------------------------------------------------------------------
async def set_webhook(settings: TelegramSettings, public_url: str) -> str:
    """Point the bot's webhook at this gateway (`tawasul telegram set-webhook`): the public
    URL + /webhooks/telegram, with the secret token Telegram will send back on every update.
    Raises TelegramSetupError with the reason when it cannot."""
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    secret = settings.secret_token.get_secret_value() if settings.secret_token else ""
    if not token or not secret:
        raise TelegramSetupError("TELEGRAM_BOT_TOKEN and TELEGRAM_SECRET_TOKEN must be set")
    if not SECRET_TOKEN.fullmatch(secret):
        raise TelegramSetupError(
            "TELEGRAM_SECRET_TOKEN must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -"
        )
    _quiet_httpx()
    url = public_url.rstrip("/") + WEBHOOK_PATH
    try:
        async with _make_bot(token, settings.api_base) as bot:  # getMe checks the token
            await bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
            )
            username = bot.username
    except TelegramError as exc:
        reason = _redact(exc.message, token)
        raise TelegramSetupError(f"Telegram refused the webhook {url}: {reason}") from exc
    return f"Telegram webhook set: @{username} posts updates to {url}"
