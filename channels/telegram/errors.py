"""The Bot API's errors as the worker's: retry, slow down, stop the contact, or give up."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from channels.base import (
    ContactStoppedError,
    InDoubtSendError,
    PermanentSendError,
    RetryableSendError,
    SendError,
    ThrottledError,
)
from channels.telegram.bot_api import redact

# python-telegram-bot 22.2+ warns that time periods (RetryAfter.retry_after) become timedeltas
# in its next major version; opt in now (the code below reads either form).
os.environ.setdefault("PTB_TIMEDELTA", "true")


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


# httpx's failures once the request was written: Telegram may have sent the message.
# (python-telegram-bot keeps httpx's error as the cause of its TimedOut or NetworkError.)
_AFTER_THE_REQUEST = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


def _may_have_arrived(exc: TelegramError) -> bool:
    return isinstance(exc.__cause__, _AFTER_THE_REQUEST)


def send_error(exc: TelegramError, token: str) -> SendError:
    """The Bot API's errors as the worker's: retry, slow down, stop the contact, or give up."""
    reason = redact(exc.message, token)
    if isinstance(exc, RetryAfter):
        seconds = _retry_after_seconds(exc)
        return ThrottledError(
            f"Telegram flood control: retry after {seconds:g} s", code="429", retry_after=seconds
        )
    if isinstance(exc, Forbidden):  # blocked by the user, or the account is deactivated
        return ContactStoppedError(f"Telegram: {reason}", code="403")
    if isinstance(exc, InvalidToken):
        return PermanentSendError(f"Telegram rejected the bot token: {reason}", code="401")
    if isinstance(exc, ChatMigrated):
        return PermanentSendError("Telegram: the chat moved to a supergroup", code="migrated")
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest is a subclass of it
        return PermanentSendError(f"Telegram: {reason}", code="400")
    if _may_have_arrived(exc):  # unknown, never sent again blind (Telegram sends no reports)
        return InDoubtSendError(f"Telegram did not answer: {reason}", code="no-answer")
    if isinstance(exc, TimedOut):
        return RetryableSendError(f"Telegram timed out: {reason}", code="timeout")
    if isinstance(exc, NetworkError):
        return RetryableSendError(f"Telegram unreachable: {reason}", code="network")
    return RetryableSendError(f"Telegram: {reason}", code="telegram")
