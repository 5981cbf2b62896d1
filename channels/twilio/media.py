"""MediaUrls downloaded in the worker, with the account's credentials sent to Twilio only.

Twilio answers with a redirect to its CDN; aiohttp drops the Authorization header when a
redirect leaves the origin, and we only send it to Twilio's own hosts (or TWILIO_API_BASE).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from urllib.parse import urlsplit

import aiohttp

from bot.media import MAX_BYTES, MediaStore
from bot.models import Media
from channels.base import MediaFetchError, PermanentMediaError
from channels.twilio.inbound import OCTET_STREAM


def trusted(url: str, api_base: str | None) -> bool:
    """Whether the account's credentials may be sent to this URL (Twilio's API only)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
        return True
    if api_base:
        base = urlsplit(api_base)
        return (parts.scheme, parts.netloc) == (base.scheme, base.netloc)
    return False


def credentials(
    url: str, account_sid: str, auth_token: str, api_base: str | None
) -> dict[str, str]:
    """The Basic authorization header for `url`, or none when the URL is not Twilio's."""
    if not trusted(url, api_base):
        return {}
    login = f"{account_sid}:{auth_token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(login).decode("ascii")}


async def download(
    session: aiohttp.ClientSession,
    url: str,
    media: Media,
    headers: dict[str, str],
    seconds: float,
    limits: aiohttp.ClientTimeout,
    store: MediaStore,
) -> Media:
    """Download `url` (the media's) and store it; a MediaFetchError (permanent for 4xx)."""
    try:
        async with (
            asyncio.timeout(seconds),
            session.get(url, headers=headers, timeout=limits) as response,
        ):
            if response.status != 200:
                error = f"twilio media: HTTP {response.status}"
                if 400 <= response.status < 500 and response.status not in (401, 429):
                    raise PermanentMediaError(error)
                raise MediaFetchError(error)
            if (response.content_length or 0) > MAX_BYTES:
                raise PermanentMediaError(f"twilio media: over {MAX_BYTES} bytes")
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data.extend(chunk)
                if len(data) > MAX_BYTES:
                    raise PermanentMediaError(f"twilio media: over {MAX_BYTES} bytes")
            content_type = media.content_type
            if content_type == OCTET_STREAM and response.content_type:
                content_type = response.content_type  # Twilio did not say; the CDN does
    except MediaFetchError:
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise MediaFetchError(f"twilio media: {exc!r}") from exc
    saved = await store.save(bytes(data), content_type, media.filename)
    return replace(media, stored_path=saved.stored_path)
