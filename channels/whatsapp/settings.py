"""WHATSAPP_*: the WhatsApp Cloud channel's own settings (channels/base.py `ChannelSettings`)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from channels.base import ChannelSettings


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
