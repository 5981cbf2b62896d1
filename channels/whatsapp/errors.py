"""Meta's error codes as the worker's typed send errors (channels/base.py).

HTTP 5xx, timeouts, connection errors and Meta's transient codes → RetryableSendError; HTTP 429
and the throughput/pair/spam limits (4, 80007, 130429, 131048, 131056) → ThrottledError; 131050
(the user stopped marketing messages from this business) → ContactStoppedError; everything
else, including 131026 (undeliverable: not on WhatsApp, old app, or the user blocked the
business, which Meta deliberately does not report as such) and 131051 → PermanentSendError
with the code. 131047 (free text outside the 24-hour window) is bot.whatsapp_window's to judge.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import whatsapp_window
from channels.base import (
    ContactStoppedError,
    MediaFetchError,
    PermanentMediaError,
    PermanentSendError,
    RetryableSendError,
    ThrottledError,
)

log = logging.getLogger(__name__)

THROTTLED_CODES = frozenset({4, 80007, 130429, 131048, 131056})
STOPPED_CODES = frozenset({131050})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
AUTH_CODES = frozenset({0, 190})  # token expired or revoked: retry while an admin fixes it


class WindowClosedError(PermanentSendError):
    """Meta 131047: free-form messages are refused more than 24 hours after the user's last."""


def send_error(status: int, error: dict[str, Any]) -> Exception:
    """The typed error for an answer without a message id: HTTP status and Meta's `error`."""
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    text = str(error.get("message") or f"HTTP {status}")[:300]
    details = error.get("error_data")
    if isinstance(details, dict) and isinstance(details.get("details"), str):
        text = f"{text}: {details['details'][:300]}"
    label = str(code) if code is not None else f"http-{status}"
    message = f"WhatsApp API error {label}: {text}"
    if whatsapp_window.means_closed(code):
        return WindowClosedError(message, code=label)
    if status == 429 or code in THROTTLED_CODES:
        return ThrottledError(message, code=label)
    if code in STOPPED_CODES:
        return ContactStoppedError(message, code=label)
    if status >= 500 or code in TRANSIENT_CODES:
        return RetryableSendError(message, code=label)
    if status == 401 or code in AUTH_CODES:
        log.error("WhatsApp rejected the access token (%s): check WHATSAPP_TOKEN", label)
        return RetryableSendError(message, code=label)
    if status == 200:
        return RetryableSendError(f"WhatsApp API answered without a message id: {text}")
    return PermanentSendError(message, code=label)


def media_error(step: str, status: int) -> MediaFetchError:
    """Meta's answer to a media lookup or download: 4xx (an unknown or expired id) is final;
    a refused token (it may be renewed), throttling and server errors are tried again."""
    if 400 <= status < 500 and status not in (401, 429):
        return PermanentMediaError(f"{step} answered {status}")
    return MediaFetchError(f"{step} answered {status}")
