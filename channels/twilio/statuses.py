"""Twilio's status callbacks (`/webhooks/twilio/status`) onto the one status scale.

Every MessageStatus Twilio documents is mapped; statuses of inbound messages (receiving,
received) and any new ones are ignored rather than refused. The ErrorCode of a failed or
undelivered message is classified as the API's answer would be (channels/twilio/errors.py):
21610 stops the address, 20429/63018 send the message again, 63016 brings the template.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from bot.models import DeliveryStatus, MessageRef, StatusUpdate
from channels.base import Inbound
from channels.twilio.errors import status_failure
from channels.twilio.inbound import field, message_sid

log = logging.getLogger(__name__)

STATUSES: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.QUEUED,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "partially_delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}

ERROR_CODE = re.compile(r"[0-9]{1,10}")


def parse_status(
    channel: str, form: Mapping[str, str], query: Mapping[str, str] | None = None
) -> list[Inbound]:
    """One callback as a StatusUpdate; `query` is its URL's, where our `m` (the message's
    own id, signed with the URL) names the message even if its SID was never stored."""
    sid = message_sid(form, "MessageSid", "SmsSid")
    raw = (field(form, "MessageStatus") or field(form, "SmsStatus")).lower()
    if not raw:
        raise ValueError("no MessageStatus")
    status = STATUSES.get(raw)
    if status is None:
        log.info("twilio status %r for %s ignored", raw[:32], sid)
        return []
    error_code = field(form, "ErrorCode") or None
    if error_code is not None and not ERROR_CODE.fullmatch(error_code):
        raise ValueError("ErrorCode is not a number")
    if error_code is not None and int(error_code) == 0:
        error_code = None
    return [
        StatusUpdate(
            channel=channel,
            provider_id=sid,
            status=status,
            error_code=error_code,
            failure=status_failure(error_code) if status is DeliveryStatus.FAILED else None,
            reference=MessageRef.parse((query or {}).get("m")),
        )
    ]
