"""TWILIO_*: the Twilio channel's own settings (channels/base.py `ChannelSettings`)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from channels.base import ChannelSettings


class TwilioSettings(ChannelSettings):
    """TWILIO_*: the account, and a sender for SMS, for WhatsApp, or both (a number, or a
    messaging service `MG…`); TWILIO_API_BASE points the client at a fake Twilio or a proxy."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_")
    required = ("account_sid", "auth_token")

    account_sid: str | None = None
    auth_token: SecretStr | None = None
    sms_from: str | None = None
    whatsapp_from: str | None = None
    api_base: str | None = None

    def missing(self) -> list[str]:
        senders = [] if self.sms_from or self.whatsapp_from else [self.env_name("sms_from")]
        return super().missing() + senders
