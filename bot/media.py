"""Attachments beneficiaries send (ID photos, documents), kept in the media store.

Files are named by a digest of their content, so a photo sent twice is stored once and a
name can never be chosen by the sender. Where a file is, its *locator*, is what
`message_media.stored_path` keeps:
- a file of the local directory: its path, as it always was (`…/media/ab/<sha256>.png`);
  only the last two parts are read back as the key, so a process whose var directory is
  mounted elsewhere still finds it;
- an object in S3-compatible storage: `s3:<key>` (`s3:ab/<keyed digest>.png`).
Rows written before the object store was configured keep reading from the local directory.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from collections.abc import Iterable
from pathlib import Path

from bot.crypto import Cipher
from bot.media_store import BlobStore, InvalidKeyError, LocalStore, checked_key
from bot.models import Media
from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's own limit for documents is 100 MB; we keep less


class MediaTooLargeError(ValueError):
    pass


class MediaStore:
    """Saves, reads and removes attachments by locator, in the configured store."""

    def __init__(self, root: Path, primary: BlobStore | None = None, cipher: Cipher | None = None):
        self.local = LocalStore(root)
        self.primary: BlobStore = primary or self.local
        self._cipher = cipher
        if self.primary.sealed and cipher is None:
            raise ValueError("a sealed store names its files with the cipher's keyed hash")

    @property
    def root(self) -> Path:
        return self.local.root

    async def save(self, data: bytes, content_type: str, filename: str | None = None) -> Media:
        """Store the bytes and return the attachment with its `stored_path` filled in."""
        if len(data) > MAX_BYTES:
            raise MediaTooLargeError(f"attachment of {len(data)} bytes is over {MAX_BYTES}")
        digest = hashlib.sha256(data).hexdigest()
        if self.primary.sealed and self._cipher is not None:
            # The plain digest would let anyone holding a copy of a document confirm that
            # the bucket has it; a keyed one tells them nothing.
            digest = self._cipher.lookup_hash(f"media-file:{digest}")
        extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
        key = f"{digest[:2]}/{digest}{extension}"
        await self.primary.put(key, data)
        return Media(content_type=content_type, filename=filename, stored_path=self.locator(key))

    def locator(self, key: str) -> str:
        """What `stored_path` keeps for the file stored under `key` in the primary store."""
        if self.primary is self.local:
            return str(self.local.path(key))
        return f"{self.primary.scheme}:{checked_key(key)}"

    def locator_of_name(self, name: str) -> str:
        """The locator of a file this store saved, from its name alone (`<digest>.<ext>`)."""
        return self.locator(f"{name[:2]}/{name}")

    def _where(self, stored_path: str) -> tuple[BlobStore, str] | None:
        scheme, _, rest = stored_path.partition(":")
        if rest and scheme == self.primary.scheme and self.primary is not self.local:
            return self.primary, checked_key(rest)
        if rest and scheme.isalpha() and len(scheme) > 1:
            log.warning("media: %s is in a %s store, which is not configured", stored_path, scheme)
            return None
        parts = Path(stored_path).parts
        if len(parts) < 2:
            raise InvalidKeyError(f"not a media locator: {stored_path!r}")
        return self.local, checked_key(f"{parts[-2]}/{parts[-1]}")

    async def read(self, stored_path: str) -> bytes | None:
        """The file's clear bytes, or None when it is not there (or not a locator of ours)."""
        try:
            where = self._where(stored_path)
        except InvalidKeyError:
            log.warning("media: %r is not a locator of ours", stored_path)
            return None
        if where is None:
            return None
        store, key = where
        return await store.get(key)

    async def remove(self, stored_paths: Iterable[str]) -> None:
        """Delete the files (an erased beneficiary's); one that is gone already is no error."""
        for stored_path in stored_paths:
            try:
                where = self._where(stored_path)
            except InvalidKeyError:
                continue
            if where is not None:
                await where[0].delete(where[1])

    async def check(self) -> None:
        await self.primary.check()


def media_store_for(settings: Settings, cipher: Cipher) -> MediaStore:
    """The store the settings name: the local directory unless TAWASUL_MEDIA_STORE=s3."""
    root = settings.var_dir / "media"
    if settings.media_store != "s3":
        return MediaStore(root)
    from bot.media_s3 import S3Config, S3Store  # boto3 is loaded only when it is used

    config = S3Config(
        bucket=settings.s3_bucket.strip(),
        endpoint_url=settings.s3_endpoint_url.strip() or None,
        region=settings.s3_region.strip() or None,
        prefix=settings.s3_prefix,
        server_side_encryption=settings.s3_sse,
    )
    return MediaStore(root, S3Store(config, cipher), cipher)
