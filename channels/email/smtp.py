"""SMTP sending: one pooled connection per process, SMTP replies typed for the worker.

The connection is kept between sends (checked with NOOP after a quiet spell) and dropped on
any error, so the next send opens a fresh one. 4xx replies and connection errors are retried
by the worker, 421 slows down, 5xx are permanent. A connection lost or timed out once the
message's DATA has begun is in doubt: the server may have queued it (RFC 1047's duplicate),
so it is never sent again blind. No aiosmtplib type leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from channels.base import (
    InDoubtSendError,
    PermanentSendError,
    RetryableSendError,
    ThrottledError,
)
from channels.email.settings import EmailSettings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30.0
SMTP_CHECK_AFTER_SECONDS = 10.0  # a pooled SMTP connection idle this long is checked with NOOP
CLEANUP_TIMEOUT_SECONDS = 3.0


class _SMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, noting whether the current message's DATA has begun."""

    data_begun = False

    async def data(self, message: str | bytes, /, **options: Any) -> Any:
        self.data_begun = True
        return await super().data(message, **options)


class SmtpSender:
    """Sends composed emails from one envelope sender, one at a time on one connection."""

    def __init__(self, settings: EmailSettings, envelope_from: str) -> None:
        self._settings = settings
        self._envelope_from = envelope_from
        self._smtp: _SMTP | None = None
        self._used = 0.0
        self._lock = asyncio.Lock()

    async def send(self, mail: EmailMessage, recipient: str) -> None:
        """Submit one email; a SendError subclass says what the worker should do if not."""
        async with self._lock:
            smtp: _SMTP | None = None
            try:
                smtp = await self._connected()
                smtp.data_begun = False
                await smtp.send_message(mail, sender=self._envelope_from, recipients=[recipient])
            except aiosmtplib.SMTPResponseException as exc:  # the server answered: no doubt
                await self._drop()
                raise _send_error(exc) from exc
            except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
                await self._drop()
                if smtp is not None and smtp.data_begun:
                    raise InDoubtSendError(
                        f"SMTP connection lost during DATA: {exc}", code="no-answer"
                    ) from exc
                if isinstance(exc, aiosmtplib.SMTPException):
                    raise _send_error(exc) from exc
                raise RetryableSendError(f"SMTP connection failed: {exc}", code="smtp-io") from exc
            self._used = time.monotonic()

    async def close(self) -> None:
        await self._drop()

    async def _connected(self) -> _SMTP:
        """The pooled SMTP connection, checked with NOOP after a quiet spell, or a new one."""
        smtp = self._smtp
        if smtp is not None and smtp.is_connected:
            if time.monotonic() - self._used < SMTP_CHECK_AFTER_SECONDS:
                return smtp
            try:
                await smtp.noop()
                return smtp
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                await self._drop()
        settings = self._settings
        implicit_tls = settings.smtp_port == 465
        smtp = _SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=(
                settings.smtp_password.get_secret_value()
                if settings.smtp_username and settings.smtp_password
                else None
            ),
            use_tls=implicit_tls,
            start_tls=False if implicit_tls else settings.smtp_starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), CLEANUP_TIMEOUT_SECONDS)
            smtp.close()


def _send_error(exc: aiosmtplib.SMTPException) -> RetryableSendError | PermanentSendError:
    """SMTP replies to send errors: 421 → throttled, 4xx → retry, 5xx → permanent.

    A 5xx at submission (550 unknown mailbox, 553 bad address, 554 rejected) fails the message
    for good, but is not taken as the beneficiary opting out (ContactStoppedError): it may be
    a typo, a full or closed mailbox, or our own server's policy, and it says nothing of what
    the person wants."""
    code: int | None = None
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = exc.recipients[0].code
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        log.error("email: the SMTP server refused SMTP_USERNAME/SMTP_PASSWORD (%s)", exc.code)
        return RetryableSendError(f"SMTP authentication failed: {exc}", code="smtp-auth")
    if code is None:
        return RetryableSendError(f"SMTP error: {exc}", code="smtp-error")
    if code == 421:
        return ThrottledError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
    if 400 <= code < 500:
        return RetryableSendError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
    if 500 <= code < 600:
        return PermanentSendError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
    return RetryableSendError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
