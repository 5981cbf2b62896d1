"""One Messages API request: the new message's SID, or a typed send error
(channels/twilio/errors.py).

Posted straight on the channel's aiohttp session, as the form Twilio documents, not through
the official client's `messages.create_async`: during a broadcast the client's layers above
the HTTP request (its request, domain and version objects, the parsed `MessageInstance`, a
second timeout) took about as much of a worker's CPU as aiohttp's request itself, a fifth of
all (bench/outbound.py). The library still judges the answer: an error becomes its own
`TwilioRestException`, parsed by its `Version.exception`, and the signatures of webhooks are
checked by its `RequestValidator`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp
from twilio.base.version import Version
from twilio.http.response import Response

from channels.base import FORM_TYPE, RetryableSendError, retry_after_seconds, unanswered
from channels.twilio.errors import send_error
from channels.twilio.inbound import WHATSAPP_PREFIX
from channels.twilio.media import credentials

API_BASE = "https://api.twilio.com"
# The fields of a send (the names of the library's `messages.create`) as the API's form names.
FORM_NAMES = {
    "body": "Body",
    "media_url": "MediaUrl",
    "content_sid": "ContentSid",
    "content_variables": "ContentVariables",
}

# A text's percent-encoding, remembered: a broadcast's 100,000 requests share one text, whose
# encoding (Arabic is two bytes a letter, each becoming three characters) was a tenth of a
# send. Short values (numbers, callback URLs) differ per request and are not kept.
_quote_text = functools.lru_cache(maxsize=64)(quote_plus)


def _quote(value: Any, safe: Any = "", encoding: Any = None, errors: Any = None) -> str:
    if isinstance(value, str) and len(value) > 100:
        return _quote_text(value, safe, encoding, errors)
    return quote_plus(value, safe, encoding, errors)


@dataclass(frozen=True)
class MessagesApi:
    """The account's Messages resource: where a send is posted, with which headers."""

    url: str
    headers: Mapping[str, str]

    @classmethod
    def of(cls, account_sid: str, auth_token: str, api_base: str | None) -> MessagesApi:
        """`api_base` replaces Twilio's host (a fake Twilio in tests, a proxy in production)."""
        base = (api_base or API_BASE).rstrip("/")
        url = f"{base}/2010-04-01/Accounts/{account_sid}/Messages.json"
        headers = {
            **credentials(url, account_sid, auth_token, api_base),
            "Content-Type": FORM_TYPE,
            "Accept": "application/json",
        }
        return cls(url, headers)


def message_form(
    to: str, sender: str, status_callback: str, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The request's form: `sender` is a number, or a messaging service (`MG…`);
    `status_callback` is this message's own URL (its query names our message, and Twilio
    signs it whole)."""
    form: dict[str, Any] = {"To": to}
    service = sender.removeprefix(WHATSAPP_PREFIX)
    if service.startswith("MG"):
        form["MessagingServiceSid"] = service
    else:
        form["From"] = sender
    for name, value in fields.items():
        if value is not None:
            form[FORM_NAMES[name]] = value
    form["StatusCallback"] = status_callback
    return form


async def create_message(
    session: aiohttp.ClientSession,
    api: MessagesApi,
    to: str,
    sender: str,
    status_callback: str,
    seconds: float,
    fields: Mapping[str, Any],
) -> str:
    """Send `fields` to `to` from `sender`, giving up after `seconds`, the answer's reading
    included (the job itself times out later); the new message's SID."""
    form = message_form(to, sender, status_callback, fields)
    body = urlencode(form, doseq=True, quote_via=_quote).encode()
    limit = aiohttp.ClientTimeout(total=seconds, connect=min(seconds, 10.0))
    try:
        async with session.post(
            api.url, data=body, headers=api.headers, timeout=limit, allow_redirects=False
        ) as response:
            status, answer = response.status, await response.read()
            retry_after = response.headers.get("Retry-After")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise unanswered("twilio", exc) from exc
    text = answer.decode("utf-8", "replace")
    if not 200 <= status < 300:
        answered = Response(status, text)
        error = Version.exception("POST", api.url, answered, "Unable to create record")
        raise send_error(error, retry_after_seconds(retry_after)) from error
    try:
        created = json.loads(text)
    except ValueError as exc:  # a 2xx answer that is not JSON: a proxy in the way
        raise RetryableSendError(f"twilio answered garbage: {exc}", code="bad-reply") from exc
    sid = created.get("sid") if isinstance(created, dict) else None
    if not sid or not isinstance(sid, str):
        raise RetryableSendError("twilio answered without a message SID", code="bad-reply")
    return sid
