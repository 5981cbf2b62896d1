"""Settings read from the environment (and a `.env` file).

The names are public (DESIGN.md): administrators set them in compose files and docs quote them,
so every field is bound to its exact environment variable with `validation_alias`.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PROFILE = "profiles/example.yaml"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """Everything an administrator can set; a channel without credentials stays off."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    var_dir: Path = Field(Path("var"), validation_alias=_env("TAWASUL_VAR_DIR"))
    database_url: str | None = Field(None, validation_alias=_env("TAWASUL_DATABASE_URL"))
    redis_url: str | None = Field(None, validation_alias=_env("TAWASUL_REDIS_URL"))
    profile: Path = Field(Path(DEFAULT_PROFILE), validation_alias=_env("TAWASUL_PROFILE"))
    public_url: str = Field("http://127.0.0.1:8080", validation_alias=_env("TAWASUL_PUBLIC_URL"))
    secret_key: SecretStr | None = Field(None, validation_alias=_env("TAWASUL_SECRET_KEY"))
    log_level: str = Field("INFO", validation_alias=_env("TAWASUL_LOG_LEVEL"))
    queue_name: str = Field("tawasul", validation_alias=_env("TAWASUL_QUEUE"))

    twilio_account_sid: str | None = Field(None, validation_alias=_env("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: SecretStr | None = Field(None, validation_alias=_env("TWILIO_AUTH_TOKEN"))
    twilio_sms_from: str | None = Field(None, validation_alias=_env("TWILIO_SMS_FROM"))
    twilio_whatsapp_from: str | None = Field(None, validation_alias=_env("TWILIO_WHATSAPP_FROM"))
    twilio_api_base: str | None = Field(None, validation_alias=_env("TWILIO_API_BASE"))

    whatsapp_token: SecretStr | None = Field(None, validation_alias=_env("WHATSAPP_TOKEN"))
    whatsapp_phone_number_id: str | None = Field(
        None, validation_alias=_env("WHATSAPP_PHONE_NUMBER_ID")
    )
    whatsapp_app_secret: SecretStr | None = Field(
        None, validation_alias=_env("WHATSAPP_APP_SECRET")
    )
    whatsapp_verify_token: SecretStr | None = Field(
        None, validation_alias=_env("WHATSAPP_VERIFY_TOKEN")
    )
    whatsapp_api_base: str = Field(
        "https://graph.facebook.com/v21.0", validation_alias=_env("WHATSAPP_API_BASE")
    )

    telegram_bot_token: SecretStr | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_secret_token: SecretStr | None = Field(
        None, validation_alias=_env("TELEGRAM_SECRET_TOKEN")
    )
    telegram_api_base: str | None = Field(None, validation_alias=_env("TELEGRAM_API_BASE"))

    smtp_host: str | None = Field(None, validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(587, validation_alias=_env("SMTP_PORT"))
    smtp_username: str | None = Field(None, validation_alias=_env("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_from: str | None = Field(None, validation_alias=_env("SMTP_FROM"))
    smtp_starttls: bool = Field(True, validation_alias=_env("SMTP_STARTTLS"))
    imap_host: str | None = Field(None, validation_alias=_env("IMAP_HOST"))
    imap_port: int = Field(993, validation_alias=_env("IMAP_PORT"))
    imap_username: str | None = Field(None, validation_alias=_env("IMAP_USERNAME"))
    imap_password: SecretStr | None = Field(None, validation_alias=_env("IMAP_PASSWORD"))
    imap_mailbox: str = Field("INBOX", validation_alias=_env("IMAP_MAILBOX"))
    imap_ssl: bool = Field(True, validation_alias=_env("IMAP_SSL"))

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL; SQLite under `var/` unless TAWASUL_DATABASE_URL says otherwise.
        Plain `postgresql://` URLs are accepted (bot.db picks the driver)."""
        return self.database_url or f"sqlite:///{self.var_dir / 'tawasul.db'}"

    def channel_status(self) -> dict[str, str | None]:
        """Each channel's name → None when on, or the reason it is off (logged at start)."""
        missing: dict[str, list[str]] = {
            "twilio": [
                n
                for n, v in (
                    ("TWILIO_ACCOUNT_SID", self.twilio_account_sid),
                    ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
                )
                if not v
            ]
            + ([] if self.twilio_sms_from or self.twilio_whatsapp_from else ["TWILIO_SMS_FROM"]),
            "whatsapp": [
                n
                for n, v in (
                    ("WHATSAPP_TOKEN", self.whatsapp_token),
                    ("WHATSAPP_PHONE_NUMBER_ID", self.whatsapp_phone_number_id),
                    ("WHATSAPP_APP_SECRET", self.whatsapp_app_secret),
                )
                if not v
            ],
            "telegram": [
                n
                for n, v in (
                    ("TELEGRAM_BOT_TOKEN", self.telegram_bot_token),
                    ("TELEGRAM_SECRET_TOKEN", self.telegram_secret_token),
                )
                if not v
            ],
            "email": [
                n
                for n, v in (
                    ("SMTP_HOST", self.smtp_host),
                    ("SMTP_FROM", self.smtp_from),
                    ("IMAP_HOST", self.imap_host),
                )
                if not v
            ],
        }
        status: dict[str, str | None] = {"webchat": None}
        for name, absent in missing.items():
            status[name] = f"no credentials ({', '.join(absent)} unset)" if absent else None
        return status


def load_settings(**overrides: object) -> Settings:
    """Read settings; keyword overrides win over the environment (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
