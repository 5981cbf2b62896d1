"""Attachments beneficiaries send (ID photos, documents), kept on disk under `var/media`.

Files are named by the SHA-256 of their content, so a photo sent twice is stored once and a
name can never be chosen by the sender.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from pathlib import Path

from bot.models import Media

MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's own limit for documents is 100 MB; we keep less


class MediaTooLargeError(ValueError):
    pass


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(self, data: bytes, content_type: str, filename: str | None = None) -> Media:
        """Store the bytes and return the attachment with its `stored_path` filled in."""
        if len(data) > MAX_BYTES:
            raise MediaTooLargeError(f"attachment of {len(data)} bytes is over {MAX_BYTES}")
        digest = hashlib.sha256(data).hexdigest()
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        path = self.root / digest[:2] / f"{digest}{extension}"
        await asyncio.to_thread(self._write, path, data)
        return Media(content_type=content_type, filename=filename, stored_path=str(path))

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)
