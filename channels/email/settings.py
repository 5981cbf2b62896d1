"""SMTP_* and IMAP_*: the email channel's own settings (channels/base.py `ChannelSettings`)."""

from __future__ import annotations

from pydantic import SecretStr

from channels.base import ChannelSettings


class EmailSettings(ChannelSettings):
    """Where replies go out (SMTP, from SMTP_FROM) and which mailbox is read (IMAP). Port
    465 means implicit TLS; otherwise SMTP_STARTTLS decides. IMAP_USERNAME defaults to
    SMTP_FROM's address."""

    required = ("smtp_host", "smtp_from", "imap_host")

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True
    imap_host: str | None = None
    imap_port: int = 993
    imap_username: str | None = None
    imap_password: SecretStr | None = None
    imap_mailbox: str = "INBOX"
    imap_ssl: bool = True
