"""Telegram files (`tg-file:<file_id>`), in the worker: getFile, then the download from the
file server, stored; nothing over bot/media.py's MAX_BYTES, nothing outside the file server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.media import MAX_BYTES, MediaStore
from bot.models import Media
from channels.base import MediaFetchError, PermanentMediaError
from channels.telegram.bot_api import api_bases, reason
from channels.telegram.inbound import FILE_PREFIX


async def fetch_media(
    initialized: Callable[[], Awaitable[Bot]],
    api_base: str | None,
    token: str,
    store: MediaStore,
    media: Media,
) -> Media:
    """The file downloaded and stored; unchanged when it is stored already or not Telegram's.
    `initialized` gives the channel's Bot, connecting it first when it is not yet."""
    if not media.url or not media.url.startswith(FILE_PREFIX) or media.stored_path:
        return media
    file_id = media.url.removeprefix(FILE_PREFIX)
    try:
        bot = await initialized()
        file = await bot.get_file(file_id)
        if file.file_size is not None and file.file_size > MAX_BYTES:
            raise PermanentMediaError(f"telegram: attachment of {file.file_size} bytes")
        # A file path outside the file server would make the client read a local file.
        if not (file.file_path or "").startswith(api_bases(api_base)[1]):
            raise PermanentMediaError("telegram: getFile gave an unexpected file path")
        data = bytes(await file.download_as_bytearray())
    except BadRequest as exc:  # an unknown file id: asking again gives the same answer
        raise PermanentMediaError(f"telegram: {reason(exc, token)}") from exc
    except TelegramError as exc:
        raise MediaFetchError(f"telegram: {reason(exc, token)}") from exc
    saved = await store.save(data, media.content_type, media.filename)
    return replace(media, stored_path=saved.stored_path)
