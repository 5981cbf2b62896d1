"""Attachments in S3-compatible object storage (AWS S3, MinIO, Cloudflare R2, Wasabi…), so
every web and worker process on every host reads the same files.

The bytes are personal data: each file is sealed with the gateway's own key (bot/crypto.py,
AES-256-GCM bound to the object's name) before it leaves the process, so the provider keeps
only ciphertext; server-side encryption can be asked for on top (TAWASUL_S3_SSE). Objects are
never made public and no presigned URL is handed out: the console's authorised route fetches
the object, opens it and streams it to the staff member it checked.

boto3 is blocking, so every call runs on a thread (`asyncio.to_thread`); its client is safe to
share between threads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.crypto import Cipher
from bot.media_store import checked_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


class ObjectStoreError(RuntimeError):
    """The object store cannot be used as configured (said in a sentence for the log)."""


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    prefix: str = ""
    # "" (none), "AES256" (keys kept by the provider) or "aws:kms".
    server_side_encryption: str = ""


class S3Store:
    scheme = "s3"
    sealed = True

    def __init__(self, config: S3Config, cipher: Cipher) -> None:
        self.config = config
        self.cipher = cipher
        # Credentials come the usual way: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a
        # profile, or the host's role.
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            region_name=config.region or None,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=60,
                max_pool_connections=20,
                s3={"addressing_style": "path"} if config.endpoint_url else None,
            ),
        )

    def object_name(self, key: str) -> str:
        return self.config.prefix + checked_key(key)

    async def put(self, key: str, data: bytes) -> None:
        name = self.object_name(key)
        extra: dict[str, str] = {}
        if self.config.server_side_encryption:
            extra["ServerSideEncryption"] = self.config.server_side_encryption
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.config.bucket,
            Key=name,
            Body=self.cipher.seal_file(data, key),
            ContentType="application/octet-stream",
            **extra,
        )

    async def get(self, key: str) -> bytes | None:
        name = self.object_name(key)
        blob = await asyncio.to_thread(self._get, name)
        return None if blob is None else self.cipher.open_file(blob, key)

    def _get(self, name: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.config.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        name = self.object_name(key)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.config.bucket, Key=name)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._exists, self.object_name(key))

    def _exists(self, name: str) -> bool:
        try:
            self._client.head_object(Bucket=self.config.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        return True

    async def check(self) -> None:
        """The bucket answers with these credentials (checked at start, so a wrong setting
        stops the process with a clear sentence instead of failing each file later)."""
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.config.bucket)
        except (ClientError, BotoCoreError) as exc:
            where = self.config.endpoint_url or "AWS S3"
            raise ObjectStoreError(
                f"media store: bucket {self.config.bucket!r} at {where} cannot be used "
                f"({exc}); check TAWASUL_S3_* and the AWS credentials"
            ) from exc


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
