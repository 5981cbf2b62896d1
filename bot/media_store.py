"""Where the bytes of attachments live, behind one small interface: put, get, delete and
exists by key. A key is a name the gateway made itself (`ab/<digest>.<ext>`), checked here
on every call, so nothing a request carries can become a file-system path or an object name.

`LocalStore`, a directory (var/media), is the embedded default and needs nothing; an object
store (bot/media_s3.py) is chosen by setting, for deployments with more than one host.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Protocol

# Two hex characters (the first of the digest, to keep directories small), then the name.
_KEY = re.compile(r"[0-9a-f]{2}/[A-Za-z0-9][A-Za-z0-9_-]{0,127}(\.[A-Za-z0-9]{1,16})?")


class InvalidKeyError(ValueError):
    """Not a key the gateway makes."""


def checked_key(key: str) -> str:
    """The key itself, or InvalidKeyError for anything else (`..`, an absolute path, `%2F`)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidKeyError(f"not a media key: {key!r}")
    return key


class BlobStore(Protocol):
    """Bytes by key. `scheme` names the store in a stored attachment's locator (bot/media.py);
    `sealed` says the store encrypts what it keeps (its files are then named by a keyed hash,
    so a name does not reveal which file it is)."""

    scheme: str
    sealed: bool

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def check(self) -> None:
        """Raise, with a sentence an administrator can act on, when the store cannot be used."""
        ...


class LocalStore:
    """Files under one directory, written whole or not at all (a temporary file renamed)."""

    scheme = "local"
    sealed = False

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(_write, self.path(key), data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(_read, self.path(key))

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def check(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)


def _write(path: Path, data: bytes) -> None:
    if path.exists():
        return  # named by its content: the same bytes are there already
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(data)
    temporary.replace(path)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
