"""The gateway's own settings (TAWASUL_*), read from the environment (and a `.env` file).

The names are public (DESIGN.md): administrators set them in compose files and docs quote them,
so every field is bound to its exact environment variable with `validation_alias`. Each
channel declares its own settings (TWILIO_*, WHATSAPP_*, …) in its module (channels/base.py
`ChannelSettings`); none of them is needed here, so the embedded defaults need nothing.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PROFILE = "profiles/example.yaml"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """What an administrator can set for the gateway itself: storage, profile, URL, keys."""

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
    # `off` turns every rate limit off, inbound and outbound (benchmarks, load tests);
    # otherwise the outbound limits over the providers' defaults, `scope=rate[/burst],…`
    # (bot/send_budget.py); empty: the defaults, inbound limits on.
    rate_limits: str = Field("", validation_alias=_env("TAWASUL_RATE_LIMITS"))
    # Inbound limits (0 = no limit). One sender is one address on any channel (a phone, a
    # Telegram chat, a web-chat session); a client is one web-chat browser's network address.
    sender_messages_per_minute: int = Field(
        60, ge=0, validation_alias=_env("TAWASUL_SENDER_MESSAGES_PER_MINUTE")
    )
    client_messages_per_minute: int = Field(
        600, ge=0, validation_alias=_env("TAWASUL_CLIENT_MESSAGES_PER_MINUTE")
    )
    client_sessions_per_hour: int = Field(
        300, ge=0, validation_alias=_env("TAWASUL_CLIENT_SESSIONS_PER_HOUR")
    )
    # Behind a reverse proxy every browser seems to come from the proxy: trust the last
    # address of X-Forwarded-For instead (only when a proxy you run sets it).
    trust_forwarded_for: bool = Field(False, validation_alias=_env("TAWASUL_TRUST_FORWARDED_FOR"))
    # Web-chat long polls held open at once, per session and per web process; beyond them a
    # poll is answered at once (429 for the session, an immediate read for the process).
    polls_per_session: int = Field(2, ge=1, validation_alias=_env("TAWASUL_POLLS_PER_SESSION"))
    polls_per_process: int = Field(200, ge=1, validation_alias=_env("TAWASUL_POLLS_PER_PROCESS"))
    # How long the web chat keeps a conversation's replies for its page (encrypted in Redis).
    webchat_history_hours: int = Field(
        24, ge=1, validation_alias=_env("TAWASUL_WEBCHAT_HISTORY_HOURS")
    )

    # Where attachments' bytes are kept: `local` (var/media, the default) or `s3` (any
    # S3-compatible object store; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
    # a profile or the host's role). Files in S3 are encrypted with TAWASUL_SECRET_KEY first.
    media_store: Literal["local", "s3"] = Field(
        "local", validation_alias=_env("TAWASUL_MEDIA_STORE")
    )
    s3_bucket: str = Field("", validation_alias=_env("TAWASUL_S3_BUCKET"))
    s3_endpoint_url: str = Field("", validation_alias=_env("TAWASUL_S3_ENDPOINT_URL"))
    s3_region: str = Field("", validation_alias=_env("TAWASUL_S3_REGION"))
    s3_prefix: str = Field("media/", validation_alias=_env("TAWASUL_S3_PREFIX"))
    # Server-side encryption asked for on top: "", "AES256" or "aws:kms".
    s3_sse: Literal["", "AES256", "aws:kms"] = Field("", validation_alias=_env("TAWASUL_S3_SSE"))

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> Settings:
        if self.media_store == "s3" and not self.s3_bucket.strip():
            raise ValueError("TAWASUL_MEDIA_STORE=s3 needs TAWASUL_S3_BUCKET")
        return self

    @property
    def limits_on(self) -> bool:
        """Whether the rate limits apply (TAWASUL_RATE_LIMITS is not `off`)."""
        return self.rate_limits.strip().lower() != "off"

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def sqlalchemy_url(self) -> str:
        """The database URL; SQLite under `var/` unless TAWASUL_DATABASE_URL says otherwise.
        Plain `postgresql://` URLs are accepted (bot.db picks the driver)."""
        return self.database_url or f"sqlite:///{self.var_dir / 'tawasul.db'}"


def load_settings(**overrides: object) -> Settings:
    """Read settings; keyword overrides win over the environment (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
