"""One POST to the Graph API's messages endpoint: the new message's wamid, or a typed error.

A phone number goes in `to` (digits); a user known only by their business-scoped user id goes
in `recipient`, which Meta's Messages API takes for such users (`to` would win over it)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from channels.base import retry_after_seconds, unanswered
from channels.whatsapp.errors import send_error
from channels.whatsapp.limits import SEND_TIMEOUT


async def post_message(
    session: aiohttp.ClientSession,
    url: str,
    auth: dict[str, str],
    recipient: dict[str, str],
    payload: dict[str, Any],
) -> str:
    """POST one message object to `recipient` ({"to": digits} or {"recipient": user id});
    the wamid, or a typed SendError."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body.update(recipient)
    body.update(payload)
    try:
        async with session.post(url, json=body, headers=auth, timeout=SEND_TIMEOUT) as response:
            status = response.status
            raw = await response.read()
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unanswered("WhatsApp API", exc) from exc
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
    raise send_error(status, error if isinstance(error, dict) else {}, retry_after)
