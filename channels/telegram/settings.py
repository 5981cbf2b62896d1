"""TELEGRAM_*: the Telegram channel's own settings (channels/base.py `ChannelSettings`)."""

from __future__ import annotations

import re

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from channels.base import ChannelSettings

# setWebhook's secret_token: 1-256 characters of A-Z, a-z, 0-9, "_" and "-".
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramSettings(ChannelSettings):
    """TELEGRAM_*: the bot's token, the secret Telegram sends back with every update, and the
    Bot API's address (a fake one in tests)."""

    model_config = SettingsConfigDict(env_prefix="TELEGRAM_")
    required = ("bot_token", "secret_token")

    bot_token: SecretStr | None = None
    secret_token: SecretStr | None = None
    api_base: str | None = None
