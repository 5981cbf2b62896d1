"""Meta's error codes, classified once for the send call's answers and the status webhooks.

`classify` is the one place a code gets its meaning (bot.models.SendFailure): the throughput,
pair and spam limits (4, 80007, 130429, 131048, 131056, 133016) are THROTTLED; Meta's
transient codes (1, 2, 131000, 131016, 131053, 133004) RETRYABLE; 131050 (the user stopped
marketing messages from this business) STOPPED; 131047 (free text outside the 24-hour
window, bot.whatsapp_window's to judge) WINDOW_CLOSED; everything else, including 131026
(undeliverable: not on WhatsApp, old app, or the user blocked the business, which Meta
deliberately does not report as such), 131051 and 131062 (no BSUID recipients for this kind
of message), PERMANENT. The send call adds what only an HTTP answer can say: HTTP 5xx is
retried, 429 slows down, and a refused token (401, 0, 190) is retried while an admin fixes it.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import whatsapp_window
from bot.models import SendFailure
from channels.base import (
    MediaFetchError,
    PermanentMediaError,
    RetryableSendError,
    SendError,
    WindowClosedError,
    send_error_for,
)

log = logging.getLogger(__name__)

THROTTLED_CODES = frozenset({4, 80007, 130429, 131048, 131056, 133016})
STOPPED_CODES = frozenset({131050})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 131053, 133004})
AUTH_CODES = frozenset({0, 190})  # token expired or revoked: retry while an admin fixes it

__all__ = ["WindowClosedError", "classify", "media_error", "send_error"]


def classify(code: int | None) -> SendFailure | None:
    """What Meta's error code means for the message; None when the code alone cannot say."""
    if code is None:
        return None
    if whatsapp_window.means_closed(code):
        return SendFailure.WINDOW_CLOSED
    if code in THROTTLED_CODES:
        return SendFailure.THROTTLED
    if code in STOPPED_CODES:
        return SendFailure.STOPPED
    if code in TRANSIENT_CODES:
        return SendFailure.RETRYABLE
    if code in AUTH_CODES:
        return None  # only an HTTP answer can tell a refused token from a refused message
    return SendFailure.PERMANENT


def status_failure(code: str | None) -> SendFailure:
    """A failed status report's error code, classified as the send call's would be."""
    number = int(code) if code is not None and code.isascii() and code.isdigit() else None
    return classify(number) or SendFailure.PERMANENT


def send_error(status: int, error: dict[str, Any], retry_after: float | None = None) -> SendError:
    """The typed error for an answer without a message id: HTTP status and Meta's `error`;
    a throttled one carries the seconds the answer's Retry-After asked for."""
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    text = str(error.get("message") or f"HTTP {status}")[:300]
    details = error.get("error_data")
    if isinstance(details, dict) and isinstance(details.get("details"), str):
        text = f"{text}: {details['details'][:300]}"
    label = str(code) if code is not None else f"http-{status}"
    message = f"WhatsApp API error {label}: {text}"
    failure = classify(code)
    if status == 429 and failure in (None, SendFailure.PERMANENT):
        failure = SendFailure.THROTTLED
    if status >= 500 and failure in (None, SendFailure.PERMANENT):
        failure = SendFailure.RETRYABLE
    if failure is None or (status == 401 and failure is SendFailure.PERMANENT):
        if status == 401 or code in AUTH_CODES:
            log.error("WhatsApp rejected the access token (%s): check WHATSAPP_TOKEN", label)
            return RetryableSendError(message, code=label)
        failure = SendFailure.PERMANENT
    if status == 200 and failure is SendFailure.PERMANENT:
        return RetryableSendError(f"WhatsApp API answered without a message id: {text}")
    return send_error_for(failure, message, label, retry_after)


def media_error(step: str, status: int) -> MediaFetchError:
    """Meta's answer to a media lookup or download: 4xx (an unknown or expired id) is final;
    a refused token (it may be renewed), throttling and server errors are tried again."""
    if 400 <= status < 500 and status not in (401, 429):
        return PermanentMediaError(f"{step} answered {status}")
    return MediaFetchError(f"{step} answered {status}")
