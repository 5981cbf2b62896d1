"""Media by id (`media:<id>`), in the worker: look the id up, download it with the token, and
store it, refusing anything over bot/media.py's MAX_BYTES."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import aiohttp

from bot.media import MAX_BYTES, MediaStore
from bot.models import Media
from channels.base import MediaFetchError, PermanentMediaError
from channels.whatsapp.errors import media_error
from channels.whatsapp.limits import MEDIA_TIMEOUT, SEND_TIMEOUT

MEDIA_PREFIX = "media:"


async def fetch_media(
    http: Callable[[], aiohttp.ClientSession],
    api_base: str,
    auth: dict[str, str],
    store: MediaStore,
    media: Media,
) -> Media:
    """The media downloaded and stored; unchanged when it is stored already or not Meta's.
    `http` gives the channel's session, opened only when there is something to download."""
    if media.stored_path or not media.url or not media.url.startswith(MEDIA_PREFIX):
        return media
    media_id = media.url.removeprefix(MEDIA_PREFIX)
    try:
        session = http()
        async with session.get(
            f"{api_base}/{media_id}", headers=auth, timeout=SEND_TIMEOUT
        ) as response:
            if response.status != 200:
                raise media_error("media lookup", response.status)
            info = await response.json(content_type=None)
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaFetchError("media lookup gave no download URL")
        content_type = media.content_type
        if content_type == "application/octet-stream" and isinstance(info.get("mime_type"), str):
            content_type = info["mime_type"]
        async with session.get(url, headers=auth, timeout=MEDIA_TIMEOUT) as response:
            if response.status != 200:
                raise media_error("media download", response.status)
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data.extend(chunk)
                if len(data) > MAX_BYTES:
                    raise PermanentMediaError(f"media over {MAX_BYTES} bytes")
    except MediaFetchError:
        raise
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise MediaFetchError(f"whatsapp media {media_id}: {exc!r}") from exc
    saved = await store.save(bytes(data), content_type, media.filename)
    return dataclasses.replace(saved, url=media.url)
