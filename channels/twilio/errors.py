"""Twilio's API errors as the worker's typed send errors (channels/base.py).

5xx, and no answer at all, are retried; 429 slows down; 21610 stops the address; 63016 (free
text outside WhatsApp's 24-hour window, bot.whatsapp_window's to judge) asks for a template;
anything else fails for good.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioException

from bot import whatsapp_window
from channels.base import (
    ContactStoppedError,
    PermanentSendError,
    RetryableSendError,
    SendError,
    ThrottledError,
)

OPTED_OUT = 21610  # the recipient replied STOP: Twilio refuses every message to them
TOO_MANY_REQUESTS = 20429


class WindowClosedError(PermanentSendError):
    """Twilio 63016: only a template may be sent to this WhatsApp user now."""


def send_error(exc: TwilioException) -> SendError:
    """The worker's view of a Twilio API error. Twilio's own message is left out: it can
    quote the recipient's number, and it ends up in logs."""
    status = _int(getattr(exc, "status", None))
    code = _int(getattr(exc, "code", None))
    label = str(code) if code else (f"http-{status}" if status else "twilio")
    what = f"twilio answered HTTP {status}, error {code}"
    if code == OPTED_OUT:
        return ContactStoppedError(what + " (recipient opted out)", code=label)
    if whatsapp_window.means_closed(code):
        return WindowClosedError(what + " (WhatsApp window closed)", code=label)
    if status == 429 or code == TOO_MANY_REQUESTS:
        return ThrottledError(what, code=label)
    if status is None or status >= 500:
        return RetryableSendError(what, code=label)
    return PermanentSendError(what, code=label)


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None
