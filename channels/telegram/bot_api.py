"""The python-telegram-bot client: its addresses for TELEGRAM_API_BASE, one Bot with its
connection pool, and keeping the bot token (which Bot API URLs contain) out of every log."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

DEFAULT_API_BASE = "https://api.telegram.org/bot"


def api_bases(api_base: str | None) -> tuple[str, str]:
    """python-telegram-bot's `base_url` and `base_file_url` for TELEGRAM_API_BASE.

    "<server>/bot" is the documented format; "<server>" alone is accepted too."""
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    if not base.endswith("/bot"):
        base += "/bot"
    return base, base.removesuffix("/bot") + "/file/bot"


def make_bot(token: str, api_base: str | None) -> Bot:
    base_url, base_file_url = api_bases(api_base)
    # 64 connections: Telegram takes 30 messages a second from a bot, so even at 400 ms an
    # answer about a dozen are ever in flight.
    request = HTTPXRequest(
        connection_pool_size=64, read_timeout=10.0, connect_timeout=5.0, pool_timeout=5.0
    )
    return Bot(token, base_url=base_url, base_file_url=base_file_url, request=request)


def quiet_httpx() -> None:
    """httpx logs every request's URL at INFO, and Bot API URLs contain the bot token."""
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:
        httpx_log.setLevel(logging.WARNING)


def redact(text: str, token: str) -> str:
    """Error texts can quote the bot token (and URLs contain it): never log it."""
    return text.replace(token, "<TELEGRAM_BOT_TOKEN>") if token else text


def reason(exc: Exception, token: str) -> str:
    """What went wrong, fit for a log line."""
    return redact(exc.message if isinstance(exc, TelegramError) else str(exc), token)
