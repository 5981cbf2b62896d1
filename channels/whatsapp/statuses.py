"""`value.statuses[]` of Meta's webhook: delivery reports onto the one status scale, with
Meta's error code classified as the send call's would be (channels/whatsapp/errors.py), so a
throttled message is sent again, a stopped user's address is stopped, and a refusal for the
closed 24-hour window brings the approved template."""

from __future__ import annotations

from typing import Any

from bot.models import DeliveryStatus, MessageRef, StatusUpdate
from channels.whatsapp.errors import status_failure
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
        failure=status_failure(code) if status is DeliveryStatus.FAILED else None,
        reference=MessageRef.parse(_opaque(item.get("biz_opaque_callback_data"))),
    )


def _opaque(value: Any) -> str | None:
    """biz_opaque_callback_data as sent (our message id), or None."""
    return value if isinstance(value, str) and len(value) <= 512 else None
