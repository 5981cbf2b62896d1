"""`tawasul telegram set-webhook`: pointing the bot's webhook at this gateway."""

from __future__ import annotations

from telegram.error import TelegramError

from channels.telegram.bot_api import make_bot, quiet_httpx, redact
from channels.telegram.inbound import ALLOWED_UPDATES, WEBHOOK_PATH
from channels.telegram.settings import SECRET_TOKEN, TelegramSettings


class TelegramSetupError(RuntimeError):
    """Setting the webhook failed; the message says why, for the administrator."""


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
    quiet_httpx()
    url = public_url.rstrip("/") + WEBHOOK_PATH
    try:
        async with make_bot(token, settings.api_base) as bot:  # getMe checks the token
            await bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
            )
            username = bot.username
    except TelegramError as exc:
        reason = redact(exc.message, token)
        raise TelegramSetupError(f"Telegram refused the webhook {url}: {reason}") from exc
    return f"Telegram webhook set: @{username} posts updates to {url}"
