"""One POST to the Graph API's messages endpoint: the new message's wamid, or a typed error."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from channels.base import RetryableSendError
from channels.whatsapp.errors import send_error
from channels.whatsapp.limits import SEND_TIMEOUT


async def post_message(
    session: aiohttp.ClientSession,
    url: str,
    auth: dict[str, str],
    to: str,
    payload: dict[str, Any],
) -> str:
    """POST one message object to `to`; the wamid, or a typed SendError."""
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    body.update(payload)
    try:
        async with session.post(url, json=body, headers=auth, timeout=SEND_TIMEOUT) as response:
            status = response.status
            raw = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryableSendError(f"WhatsApp API unreachable: {exc!r}", code="network") from exc
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    if status == 200 and isinstance(data, dict):
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            if isinstance(wamid, str) and wamid:
                return wamid
    error = data.get("error") if isinstance(data, dict) else None
    raise send_error(status, error if isinstance(error, dict) else {})
