"""Encryption at rest for personal data, and keyed hashes for looking it up.

Names, national IDs, phone numbers and message bodies are stored encrypted (AES-256-GCM);
a keyed hash (HMAC-SHA256) of the normalised value is stored beside a field that must be
found by value, so the clear text never reaches the database. Both keys are derived from
`TAWASUL_SECRET_KEY` with HKDF, so one secret is all an administrator keeps.

Files (attachments kept in an object store) are sealed as bytes with a third derived key; each
sealed file starts with the id of the key that sealed it, so a later key ring can tell which
secret opens it and a wrong secret is named as such instead of reading as tampering.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.text import normalize_for_matching

log = logging.getLogger(__name__)

_PREFIX = "v1:"
_NONCE_BYTES = 12
# A sealed file: magic and version, the sealing key's id, the nonce, then ciphertext and tag.
_FILE_MAGIC = b"TWF1"
_KEY_ID_BYTES = 8
_FILE_HEADER = len(_FILE_MAGIC) + _KEY_ID_BYTES + _NONCE_BYTES


class DecryptionError(ValueError):
    """A stored value cannot be read with this key (wrong TAWASUL_SECRET_KEY, or tampering)."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tawasul", info=purpose).derive(secret)


class Cipher:
    """Encrypts and hashes personal fields with keys derived from one secret."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("TAWASUL_SECRET_KEY must be at least 16 characters")
        raw = secret.encode()
        self._aead = AESGCM(_derive(raw, b"encryption"))
        self._hash_key = _derive(raw, b"lookup-hash")
        self._files = AESGCM(_derive(raw, b"file-encryption"))
        # Public, and names the secret without revealing it (a hash of a derived key).
        self.key_id = hashlib.sha256(_derive(raw, b"key-id")).digest()[:_KEY_ID_BYTES]

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain.encode(), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith(_PREFIX):
            raise DecryptionError("not an encrypted value")
        blob = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        try:
            return self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], None).decode()
        except Exception as exc:  # cryptography raises InvalidTag without a message
            raise DecryptionError("cannot decrypt: wrong TAWASUL_SECRET_KEY?") from exc

    def seal_file(self, data: bytes, name: str) -> bytes:
        """The file's bytes encrypted and bound to `name` (its key in the store), so one stored
        file cannot be passed off as another."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._files.encrypt(nonce, data, name.encode())
        return _FILE_MAGIC + self.key_id + nonce + sealed

    def open_file(self, blob: bytes, name: str) -> bytes:
        """The clear bytes of a file sealed by `seal_file` under the same name."""
        if len(blob) < _FILE_HEADER or not blob.startswith(_FILE_MAGIC):
            raise DecryptionError("not a sealed file")
        key_id = blob[len(_FILE_MAGIC) : len(_FILE_MAGIC) + _KEY_ID_BYTES]
        if not hmac.compare_digest(key_id, self.key_id):
            raise DecryptionError(f"sealed with another key (id {key_id.hex()}), not this one")
        nonce = blob[len(_FILE_MAGIC) + _KEY_ID_BYTES : _FILE_HEADER]
        try:
            return self._files.decrypt(nonce, blob[_FILE_HEADER:], name.encode())
        except Exception as exc:
            raise DecryptionError(f"cannot open the sealed file {name}") from exc

    def lookup_hash(self, value: str) -> str:
        """Stable keyed hash, so equal values match without storing them in clear."""
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()

    def name_hash(self, name: str | None) -> str | None:
        """The keyed hash of a person's name for the console's exact-name search: the name
        normalised first (diacritics, tatweel, hamza and ya/ta-marbuta forms, spacing), so
        a name typed with or without them finds the same person; None for no name."""
        key = normalize_for_matching(name or "")
        return self.lookup_hash("name:" + key) if key else None


_active: Cipher | None = None


def use_cipher(cipher: Cipher) -> None:
    """Install the process's cipher; the SQL column types read it when they bind values."""
    global _active
    _active = cipher


def active_cipher() -> Cipher:
    if _active is None:
        raise RuntimeError("no cipher configured: call bot.crypto.use_cipher() at start-up")
    return _active


def resolve_secret(configured: str | None, var_dir: Path) -> str:
    """The configured secret, or a development key kept in `var/` (with a loud warning)."""
    if configured:
        return configured
    key_file = var_dir / "secret.key"
    if key_file.exists():
        secret = key_file.read_text().strip()
    else:
        var_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
    log.warning(
        "TAWASUL_SECRET_KEY is not set: using the DEVELOPMENT key in %s. Personal data is "
        "encrypted with it; set TAWASUL_SECRET_KEY in production and keep it safe.",
        key_file,
    )
    return secret
