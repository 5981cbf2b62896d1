"""Twilio's error codes, classified once for the API's answers and the status callbacks.

`classify` is the one place a code gets its meaning (bot.models.SendFailure): 21610 (the
recipient replied STOP) is STOPPED; 63016 (free text outside WhatsApp's 24-hour window,
bot.whatsapp_window's to judge) WINDOW_CLOSED; 20429 and 63018 (too many requests, the
WhatsApp rate limit) THROTTLED; 30001 (queue overflow) RETRYABLE; any other code PERMANENT.
The API call adds what only an HTTP answer can say: 5xx and no answer at all are retried,
429 slows down. Twilio's own message is left out of errors: it can quote the recipient's
number, and it ends up in logs.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioException

from bot import whatsapp_window
from bot.models import SendFailure
from channels.base import SendError, WindowClosedError, send_error_for

OPTED_OUT = 21610  # the recipient replied STOP: Twilio refuses every message to them
TOO_MANY_REQUESTS = 20429
THROTTLED_CODES = frozenset({TOO_MANY_REQUESTS, 63018})
RETRYABLE_CODES = frozenset({30001})

__all__ = ["WindowClosedError", "classify", "send_error", "status_failure"]


def classify(code: int | None) -> SendFailure | None:
    """What Twilio's error code means for the message; None when there is no code."""
    if code is None:
        return None
    if code == OPTED_OUT:
        return SendFailure.STOPPED
    if whatsapp_window.means_closed(code):
        return SendFailure.WINDOW_CLOSED
    if code in THROTTLED_CODES:
        return SendFailure.THROTTLED
    if code in RETRYABLE_CODES:
        return SendFailure.RETRYABLE
    return SendFailure.PERMANENT


def status_failure(code: str | None) -> SendFailure:
    """A failed or undelivered callback's ErrorCode, classified as the API's would be."""
    return classify(_int(code)) or SendFailure.PERMANENT


def send_error(exc: TwilioException, retry_after: float | None = None) -> SendError:
    """The worker's view of a Twilio API error; a throttled one (429, 20429) keeps the
    seconds its answer's Retry-After asked for."""
    status = _int(getattr(exc, "status", None))
    code = _int(getattr(exc, "code", None))
    label = str(code) if code else (f"http-{status}" if status else "twilio")
    what = f"twilio answered HTTP {status}, error {code}"
    failure = classify(code)
    if failure in (None, SendFailure.PERMANENT):
        if status == 429:
            failure = SendFailure.THROTTLED
        elif status is None or status >= 500:
            failure = SendFailure.RETRYABLE
    notes = {
        SendFailure.STOPPED: " (recipient opted out)",
        SendFailure.WINDOW_CLOSED: " (WhatsApp window closed)",
    }
    failure = failure or SendFailure.PERMANENT
    return send_error_for(failure, what + notes.get(failure, ""), label, retry_after)


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None
