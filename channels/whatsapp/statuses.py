"""`value.statuses[]` of Meta's webhook: delivery reports onto the one status scale, with
Meta's error code, and whether the message was refused for a closed 24-hour window."""

from __future__ import annotations

from typing import Any

from bot import whatsapp_window
from bot.models import DeliveryStatus, StatusUpdate
from channels.whatsapp.json_fields import json_string, timestamp
from channels.whatsapp.limits import MAX_PROVIDER_ID

STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "played": DeliveryStatus.READ,  # a voice note was played: at least read
    "failed": DeliveryStatus.FAILED,
}


def parse_status(channel: str, item: dict[str, Any]) -> StatusUpdate | None:
    """One status object as a StatusUpdate; None for a status we do not track."""
    wamid = json_string(item.get("id"), "statuses[].id")
    status = STATUSES.get(str(item.get("status")))
    if status is None or len(wamid) > MAX_PROVIDER_ID:
        return None  # a status we do not track ("deleted", "warning", …)
    code: str | None = None
    errors = item.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        raw = errors[0].get("code")
        if isinstance(raw, int | str) and not isinstance(raw, bool):
            code = str(raw)[:32]
    return StatusUpdate(
        channel=channel,
        provider_id=wamid,
        status=status,
        error_code=code,
        at=timestamp(item.get("timestamp")),
        window_closed=whatsapp_window.refused_for_closed_window(status, code),
    )
