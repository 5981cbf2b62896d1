"""The WhatsApp 24-hour customer-service window, decided here and nowhere else.

WhatsApp (through Meta's Cloud API or through Twilio) delivers free text to a beneficiary only
within 24 hours of their last message; after that only an approved template goes through. The
providers enforce it themselves: Meta refuses a send with error 131047, Twilio with 63016, at
once or later in a failed status report. Both channels, the router (which answers a late
refusal with the "reply waiting" template) and the coming staff console ("can I still send
free text, and for how long?") ask the questions below, so the rule lives in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import DeliveryStatus
from bot.profile import WhatsAppTemplate

WINDOW = timedelta(hours=24)

META_WINDOW_CLOSED = 131047  # "Re-engagement message": more than 24 hours since the user wrote
TWILIO_WINDOW_CLOSED = 63016  # "Failed to send freeform message … outside the allowed window"
CLOSED_CODES = frozenset({str(META_WINDOW_CLOSED), str(TWILIO_WINDOW_CLOSED)})

# The profile's template that tells a beneficiary "a reply is waiting, write to us to read it".
REPLY_WAITING_TEMPLATE = "reply_waiting"


@dataclass(frozen=True)
class WindowState:
    """Whether free text may still be sent, and until when."""

    open: bool
    closes_at: datetime | None  # None: the beneficiary has never written
    remaining: timedelta  # zero once closed


def window_at(last_inbound: datetime | None, now: datetime) -> WindowState:
    """The window at `now`, given when the beneficiary last wrote (both timezone-aware).
    It is open while less than 24 hours have passed; at exactly 24 hours it is closed."""
    if last_inbound is None:
        return WindowState(open=False, closes_at=None, remaining=timedelta(0))
    closes_at = last_inbound + WINDOW
    remaining = max(closes_at - now, timedelta(0))
    return WindowState(open=remaining > timedelta(0), closes_at=closes_at, remaining=remaining)


def means_closed(error_code: str | int | None) -> bool:
    """Whether a provider's error code says the window is closed (only templates go now)."""
    return error_code is not None and str(error_code).strip() in CLOSED_CODES


def refused_for_closed_window(status: DeliveryStatus, error_code: str | int | None) -> bool:
    """Whether a delivery report is a free-text message refused for the closed window."""
    return status is DeliveryStatus.FAILED and means_closed(error_code)


def reply_waiting_template(
    templates: Mapping[str, WhatsAppTemplate],
    sendable: Callable[[WhatsAppTemplate], str | None],
) -> tuple[str, WhatsAppTemplate] | None:
    """The template to send in place of free text once the window closed: the profile's
    `reply_waiting`, else its first template this provider can send (`sendable` gives the
    provider's id for it: Meta's name or Twilio's Content SID); None when there is none."""
    preferred = templates.get(REPLY_WAITING_TEMPLATE)
    if preferred is not None and sendable(preferred):
        return REPLY_WAITING_TEMPLATE, preferred
    return next(((name, found) for name, found in templates.items() if sendable(found)), None)


def template_to_send(
    name: str,
    templates: Mapping[str, WhatsAppTemplate],
    sendable: Callable[[WhatsAppTemplate], str | None],
) -> WhatsAppTemplate | None:
    """The profile's template a queued template message named `name` goes out as on this
    provider: `reply_waiting` (what the router queues after a late refusal) by the same rule
    as a refusal met while sending; any other name only as itself."""
    if name == REPLY_WAITING_TEMPLATE:
        found = reply_waiting_template(templates, sendable)
        return found[1] if found is not None else None
    template = templates.get(name)
    return template if template is not None and sendable(template) else None
