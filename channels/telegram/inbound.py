"""Inbound (`POST /webhooks/telegram`): the secret token check, and updates decoded with
`telegram.Update.de_json` as `InboundMessage`s (private messages and inline-keyboard presses).

Only the update kinds we answer are decoded; edited messages, group chats and other kinds are
acknowledged and dropped. Anything malformed is a ValueError (the gateway answers 400).
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
from typing import Any

from telegram import Bot, Message, Update, User

from bot.i18n import GREETING_WORDS, LANGUAGES, translator
from bot.models import AddressKind, InboundMessage, Media
from channels.base import Inbound

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
CALLBACK_PREFIX = "cb:"
FILE_PREFIX = "tg-file:"
START_COMMAND = re.compile(r"/start(?:@\w+)?(?:\s.*)?", re.DOTALL)


def signed(secret: bytes, headers: dict[str, str]) -> bool:
    """Whether the update carries the secret token given to setWebhook."""
    given = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER.lower()), None)
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret)


def parse_update(
    channel: str, body: bytes, bot: Bot | None, default_language: str
) -> list[Inbound]:
    """The update's message or button press; none for what is not the beneficiary's words.
    `default_language` greets a /start from an app in a language we do not speak."""
    data = _json_object(body)
    update_id = data.get("update_id")
    if type(update_id) is not int:
        raise ValueError("update_id must be an integer")
    # Only the kinds we answer are decoded: edited messages, channel posts, member updates
    # are acknowledged unread (a field newer than this client there cannot make us 400).
    kind = next((k for k in ALLOWED_UPDATES if data.get(k) is not None), None)
    if kind is None:
        return []
    try:
        update = Update.de_json({"update_id": update_id, kind: data[kind]}, bot)
    except Exception as exc:  # de_json raises whatever the malformed field provokes
        raise ValueError(f"not a Telegram update: {type(exc).__name__}") from exc
    try:
        if update.message is not None:
            message = _from_message(channel, update_id, update.message, default_language)
        elif update.callback_query is not None:
            message = _from_callback(channel, update)
        else:
            return []  # edited messages, channel posts, member updates: nothing to answer
    except (AttributeError, TypeError) as exc:
        raise ValueError(f"malformed Telegram update: {exc}") from exc
    return [message] if message is not None else []


def _from_message(
    channel: str, update_id: int, message: Message, default_language: str
) -> InboundMessage | None:
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
        text = _greeting(user, default_language)
    if not text and not media and not _answerable_without_text(message):
        return None  # service messages (pinned, payments…) are not the beneficiary's words
    return InboundMessage(
        channel=channel,
        address_kind=AddressKind.TELEGRAM,
        address=str(chat.id),
        provider_id=str(update_id),
        text=(text or "").strip(),
        media=media,
        sender_name=_full_name(user),
    )


def _from_callback(channel: str, update: Update) -> InboundMessage | None:
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
        channel=channel,
        address_kind=AddressKind.TELEGRAM,
        address=str(chat_id),
        provider_id=CALLBACK_PREFIX + query.id,
        text=title.strip(),
        button_id=data,
        sender_name=_full_name(user),
    )


def _greeting(user: User | None, default_language: str) -> str:
    """A greeting word in the beneficiary's app language (else the profile's), so that a
    new contact is answered in the language their Telegram shows."""
    code = user.language_code if user is not None else None
    language = code.split("-")[0].lower() if isinstance(code, str) else ""
    if language not in LANGUAGES:
        language = default_language
    words = translator(language).gettext(GREETING_WORDS)
    return re.split("[,\u060c]", words)[0].strip() or "hi"


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
