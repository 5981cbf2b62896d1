"""Where attachments are kept: the local directory by default (nothing to set), or an
S3-compatible object store (moto's real S3 server on 127.0.0.1 as the provider), where each
file is sealed with the gateway's key before it leaves the process.

The last test is the production shape: a real `tawasul worker` on one "host" (its own var
directory) fetches a photo from the fake Twilio and keeps it in the bucket; a real
`tawasul serve` on another (another var directory) shows it to a signed-in officer.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from bot.crypto import Cipher, DecryptionError, use_cipher
from bot.media import MediaStore, media_store_for
from bot.media_s3 import ObjectStoreError
from bot.media_store import InvalidKeyError, LocalStore, checked_key
from bot.settings import load_settings
from bot.tables import Message, MessageMedia
from tests.conftest import PROFILE, REDIS_URL, ROOT, SECRET_KEY
from tests.console_helpers import PASSWORD, sign_in_at
from tests.fakes.s3 import CREDENTIALS, FakeS3
from tests.fakes.server import running
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, new_sid, sign, twilio_photo
from tests.journeys import database
from tests.processes import CLI, gateway
from tests.waiting import eventually

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def unique_png() -> bytes:
    return PNG + uuid.uuid4().bytes


@pytest.fixture(scope="module")
def s3() -> Iterator[FakeS3]:
    with running(FakeS3()) as server:
        yield server


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual AWS credential variables, read by boto3 in this process."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def s3_media(
    tmp_path: Path, s3: FakeS3, bucket: str, secret: str = SECRET_KEY, **settings: str
) -> MediaStore:
    configured = load_settings(
        var_dir=tmp_path / "var",
        media_store="s3",
        s3_bucket=bucket,
        s3_endpoint_url=s3.url,
        s3_region="us-east-1",
        **settings,
    )
    return media_store_for(configured, Cipher(secret))


# -- the local directory, the default -----------------------------------------------------------
@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "/etc/passwd", "ab/../../x", "ab/.hidden", "ab%2F..%2Fx", "ab/c/d", "", "ab"],
)
def test_a_key_is_only_a_name_the_gateway_makes(key: str) -> None:
    with pytest.raises(InvalidKeyError):
        checked_key(key)


async def test_nothing_configured_keeps_files_in_var_media_as_before(tmp_path: Path) -> None:
    media = media_store_for(load_settings(var_dir=tmp_path / "var"), Cipher(SECRET_KEY))
    assert isinstance(media.primary, LocalStore)
    content = unique_png()
    saved = await media.save(content, "image/png", "هوية.png")
    assert saved.stored_path is not None
    path = Path(saved.stored_path)
    # The same place and name as before this store existed: var/media/ab/<sha256>.png.
    digest = hashlib.sha256(content).hexdigest()
    assert path == tmp_path / "var" / "media" / digest[:2] / f"{digest}.png"
    assert path.read_bytes() == content
    assert await media.read(saved.stored_path) == content
    # A row written by a process whose var directory was mounted elsewhere still reads.
    assert await media.read(f"/srv/old-host/var/media/{digest[:2]}/{digest}.png") == content
    assert await media.read("/etc/passwd") is None
    await media.remove([saved.stored_path])
    assert not path.exists() and await media.read(saved.stored_path) is None


# -- the object store -----------------------------------------------------------------------------
async def test_the_bucket_keeps_only_sealed_bytes_under_a_name_that_tells_nothing(
    tmp_path: Path, s3: FakeS3, aws: None
) -> None:
    bucket = s3.new_bucket()
    media = s3_media(tmp_path, s3, bucket)
    await media.check()
    content = unique_png()
    saved = await media.save(content, "image/png")
    assert saved.stored_path is not None and saved.stored_path.startswith("s3:")
    assert await media.read(saved.stored_path) == content

    (name, kept), *others = s3.objects(bucket).items()
    assert not others
    assert name.startswith("media/") and name.endswith(".png")
    assert hashlib.sha256(content).hexdigest() not in name  # no confirming a known document
    assert kept != content and content[:16] not in kept and PNG[:8] not in kept
    assert not (tmp_path / "var" / "media").exists()  # nothing written to this host's disk

    # Another secret cannot open it, and says so.
    with pytest.raises(DecryptionError, match="another key"):
        await s3_media(tmp_path, s3, bucket, "another-secret-key-entirely").read(saved.stored_path)
    # One object passed off as another (copied under another file's name) does not open.
    other = await media.save(unique_png(), "image/png")
    assert other.stored_path is not None
    client = s3.client()
    client.copy_object(
        Bucket=bucket,
        Key="media/" + other.stored_path.removeprefix("s3:"),
        CopySource={"Bucket": bucket, "Key": name},
    )
    with pytest.raises(DecryptionError):
        await media.read(other.stored_path)

    await media.remove([saved.stored_path])
    assert await media.read(saved.stored_path) is None
    assert name not in s3.objects(bucket)


async def test_server_side_encryption_is_asked_for_when_set(
    tmp_path: Path, s3: FakeS3, aws: None
) -> None:
    bucket = s3.new_bucket()
    media = s3_media(tmp_path, s3, bucket, s3_sse="AES256", s3_prefix="")
    saved = await media.save(b"%PDF-1.4 lease", "application/pdf")
    assert saved.stored_path is not None
    head = s3.client().head_object(Bucket=bucket, Key=saved.stored_path.removeprefix("s3:"))
    assert head["ServerSideEncryption"] == "AES256"


async def test_rows_kept_locally_before_the_store_was_set_still_open(
    tmp_path: Path, s3: FakeS3, aws: None
) -> None:
    before = await MediaStore(tmp_path / "var" / "media").save(unique_png(), "image/png")
    media = s3_media(tmp_path, s3, s3.new_bucket())
    assert before.stored_path is not None
    assert await media.read(before.stored_path) == Path(before.stored_path).read_bytes()


async def test_a_store_that_cannot_be_used_stops_start_up_with_a_sentence(
    tmp_path: Path, s3: FakeS3, aws: None
) -> None:
    with pytest.raises(ValidationError, match="TAWASUL_S3_BUCKET"):
        load_settings(var_dir=tmp_path / "var", media_store="s3")
    with pytest.raises(ObjectStoreError, match="no-such-bucket"):
        await s3_media(tmp_path, s3, "no-such-bucket").check()
    # The commands say so in a sentence, and stop.
    env = {**tawasul_env(tmp_path), **s3.env("no-such-bucket")}
    worker = await asyncio.to_thread(_cli, env, "worker")
    assert worker.returncode == 2 and "bucket 'no-such-bucket'" in worker.stderr
    env["TAWASUL_S3_BUCKET"] = ""
    listed = await asyncio.to_thread(_cli, env, "user", "list")
    assert listed.returncode == 2
    assert "TAWASUL_MEDIA_STORE=s3 needs TAWASUL_S3_BUCKET" in listed.stderr
    assert "Traceback" not in listed.stderr


# -- two hosts, one bucket ------------------------------------------------------------------------
def tawasul_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TAWASUL_VAR_DIR": str(tmp_path / "var"),
        "TAWASUL_REDIS_URL": REDIS_URL,
        "TAWASUL_SECRET_KEY": SECRET_KEY,
        "TAWASUL_PROFILE": str(PROFILE),
    }


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _stored_row(database_url: str, message_sid: str) -> MessageMedia | None:
    with database(database_url) as session:
        return session.scalar(
            select(MessageMedia)
            .join(Message, Message.id == MessageMedia.message_id)
            .where(Message.provider_id == message_sid, MessageMedia.status == "stored")
        )


async def test_the_console_shows_what_a_worker_on_another_host_kept_in_the_bucket(
    tmp_path: Path, s3: FakeS3
) -> None:
    use_cipher(Cipher(SECRET_KEY))  # this test reads the gateway's rows itself
    bucket = s3.new_bucket()
    twilio = FakeTwilio().start()
    settings = {
        **s3.env(bucket),
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+966501234567",
        "TWILIO_API_BASE": twilio.url,
        "TAWASUL_REDIS_URL": REDIS_URL,
        "TAWASUL_PROFILE": str(PROFILE),
        "TAWASUL_SECRET_KEY": SECRET_KEY,
    }
    try:
        with gateway(tmp_path / "web-host", REDIS_URL, settings) as live:
            worker_var = tmp_path / "worker-host" / "var"
            # No worker of this host yet: the container's healthcheck says so.
            assert _cli(live.env, "worker", "--check").returncode == 1
            live.start_worker({"TAWASUL_VAR_DIR": str(worker_var)})
            live.start_serve()
            added = _cli(
                live.env,
                "user", "add", "--email", "officer@example.org", "--name", "Officer",
                "--role", "officer", "--password-stdin",
                stdin=PASSWORD + "\n",
            )  # fmt: skip
            assert added.returncode == 0, added.stderr

            content = unique_png()
            sid = new_sid("MM")
            form = twilio_photo("+966551234567", sid, twilio.add_media(content, "image/png"))
            headers = {"X-Twilio-Signature": sign(live.url + "/webhooks/twilio", form)}
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as web:
                async with web.post(
                    live.url + "/webhooks/twilio", data=form, headers=headers
                ) as answered:
                    assert answered.status == 200
                await asyncio.to_thread(
                    eventually,
                    lambda: _stored_row(live.database_url, sid),
                    "the worker's fetch",
                    120,
                )
                row = _stored_row(live.database_url, sid)
                assert row is not None and row.stored_path is not None
                assert row.stored_path.startswith("s3:")
                # In the bucket, sealed; on neither host's disk.
                kept = s3.objects(bucket)
                assert list(kept) == ["media/" + row.stored_path.removeprefix("s3:")]
                assert content[:16] not in next(iter(kept.values()))
                for var in (live.var_dir, worker_var):
                    assert not (var / "media").exists() or not any((var / "media").rglob("*.*"))
                assert _cli(live.env, "worker", "--check").returncode == 0

                signed = await sign_in_at(live.url + "/console/login", web, "officer@example.org")
                assert signed.status == 302
                with database(live.database_url) as session:
                    conversation_id = session.scalar(
                        select(Message.conversation_id).where(Message.id == row.message_id)
                    )
                page_url = f"{live.url}/console/conversations/{conversation_id}"
                async with web.get(page_url) as page:
                    assert f'href="/console/attachments/{row.id}"' in await page.text()
                async with web.get(f"{live.url}/console/attachments/{row.id}") as opened:
                    assert opened.status == 200
                    assert opened.headers["Content-Type"] == "image/png"
                    assert opened.headers["Cache-Control"] == "no-store"
                    assert await opened.read() == content
            async with aiohttp.ClientSession() as stranger:  # not signed in: no file
                async with stranger.get(
                    f"{live.url}/console/attachments/{row.id}", allow_redirects=False
                ) as refused:
                    assert refused.status in (302, 303, 401, 403)
                    assert await refused.read() != content
    finally:
        twilio.stop()


def test_the_worker_check_needs_redis_configured(tmp_path: Path) -> None:
    env = {"TAWASUL_VAR_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"}
    checked = subprocess.run(
        [sys.executable, "-m", "bot.app.cli", "worker", "--check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 1 and "TAWASUL_REDIS_URL" in checked.stderr
