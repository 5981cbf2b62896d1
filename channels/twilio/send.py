"""One Messages API request through the official client: the new message's SID, or a typed
send error (channels/twilio/errors.py)."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

from channels.base import FORM_TYPE, RetryableSendError, retry_after_seconds, unanswered
from channels.twilio.errors import send_error
from channels.twilio.inbound import WHATSAPP_PREFIX

# The library's errors do not keep the answer's headers: the HTTP client below hands each
# answer's Retry-After to the send that made the request (a context variable is per task).
_RETRY_AFTER: ContextVar[list[str | None] | None] = ContextVar("twilio_retry_after", default=None)


class EncodedFormHttpClient(AsyncTwilioHttpClient):
    """The library's async client, handing aiohttp the form already encoded, as the same
    bytes. Given a dict, aiohttp builds a FormData, and every FormData makes a multipart
    writer whose random boundary (a uuid4: a read of the system's random source) a plain form
    never uses: with the encoding itself, a quarter of a worker's loop during a broadcast.
    The account's credentials go as the same Basic header, without aiohttp's deprecated
    `auth` argument. It also notes each answer's Retry-After for its send (an aiohttp trace
    on the session did, at a tenth of the loop's time for its per-request signals)."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the library's signature)
        allow_redirects: bool = False,
    ) -> Response:
        body: Any = data
        headers = dict(headers or {})
        if isinstance(data, dict):
            body = urlencode(data, doseq=True).encode()
            headers["Content-Type"] = FORM_TYPE
        if auth is not None:  # as a header: aiohttp's `auth` argument is deprecated
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        response = await super().request(
            method, url, params, body, headers, None, timeout, allow_redirects
        )
        answers = _RETRY_AFTER.get()
        if answers is not None:  # read by create_message when the library raises
            answers.append(response.headers.get("Retry-After"))
        return response


async def create_message(
    client: Any,
    to: str,
    sender: str,
    status_callback: str,
    seconds: float,
    fields: dict[str, Any],
) -> str:
    """Send `fields` to `to` from `sender` (a number, or a messaging service `MG…`), giving
    up after `seconds` (the job itself times out later). `status_callback` is this message's
    own URL: its query names our message, and Twilio signs it whole."""
    fields = dict(fields)
    answers: list[str | None] = []  # each answer's Retry-After, by EncodedFormHttpClient
    token = _RETRY_AFTER.set(answers)
    if sender.removeprefix(WHATSAPP_PREFIX).startswith("MG"):
        fields["messaging_service_sid"] = sender.removeprefix(WHATSAPP_PREFIX)
    else:
        fields["from_"] = sender
    try:
        async with asyncio.timeout(seconds):
            created = await client.messages.create_async(
                to=to, status_callback=status_callback, **fields
            )
    except TwilioException as exc:
        raise send_error(exc, retry_after_seconds(answers[-1] if answers else None)) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise unanswered("twilio", exc) from exc
    except ValueError as exc:  # a 2xx answer that is not JSON: a proxy in the way
        raise RetryableSendError(f"twilio answered garbage: {exc}", code="bad-reply") from exc
    finally:
        _RETRY_AFTER.reset(token)
    sid = getattr(created, "sid", None)
    if not sid:
        raise RetryableSendError("twilio answered without a message SID", code="bad-reply")
    return str(sid)
