"""A message as Telegram text and an inline keyboard (one button per row, the button id as
`callback_data`), long texts split at 4,096 UTF-16 code units."""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import OutboundMessage
from channels.base import PermanentSendError
from channels.render import numbered_text, split_text

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # Telegram counts UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes
MAX_BUTTONS = 20


def render(message: OutboundMessage) -> tuple[str, InlineKeyboardMarkup | None]:
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


def split(text: str) -> list[str]:
    """The texts of the sendMessage calls, each within Telegram's limit."""
    if not text.strip():
        raise PermanentSendError("Telegram cannot send an empty message", code="empty")
    if _utf16_length(text) <= MAX_TEXT:
        return [text]
    # Characters outside the BMP (emoji) count twice; half the limit is safe for any text.
    limit = MAX_TEXT if _utf16_length(text) == len(text) else MAX_TEXT // 2
    return [part for part in split_text(text, limit) if part.strip()]
