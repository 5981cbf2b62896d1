"""Record first, then fetch: a webhook with media is answered while the provider's download is
still held, and a real `tawasul worker --burst` fetches the file afterwards, with retries, for
WhatsApp (Meta), Twilio and Telegram; a file that cannot be fetched ends visibly failed.

The web application runs in this process over the real runtime (SQLite, Redis, the fake
providers); the worker is the real command in a subprocess, as an administrator runs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app.runtime import Runtime, open_runtime
from bot.app.web import create_app
from bot.crypto import Cipher
from bot.migrate import upgrade
from bot.models import AddressKind, InboundMessage, Media
from bot.settings import Settings, load_settings
from bot.storage import Store
from bot.storage.attachments import FAILED, PENDING, STORED, Attachments, reference
from bot.tables import Message, MessageMedia
from tests.conftest import PROFILE, REDIS_URL, ROOT, SECRET_KEY
from tests.fakes.server import FakeServer, MediaGate
from tests.fakes.telegram import FakeBotAPI
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    new_sid,
    sign,
    twilio_photo,
)
from tests.fakes.whatsapp import FakeGraphAPI
from tests.fixtures import telegram as updates
from tests.fixtures import whatsapp as wa
from tests.journeys import database
from worker.media import MediaFetches
from worker.queues import make_queue

PUBLIC_URL = "https://gateway.test"
TELEGRAM_TOKEN = "123:ABC"
TELEGRAM_SECRET = "tawasul-test_secret-42"
# A valid 1×1 PNG; each test changes its last bytes so that no two tests share a file.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
_numbers = itertools.count(1)


def unique_png() -> bytes:
    return PNG + next(_numbers).to_bytes(4, "big") + uuid.uuid4().bytes


# -- the providers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Webhook:
    path: str
    headers: dict[str, str]
    body: bytes | None = None
    form: dict[str, str] | None = None


@dataclass(frozen=True)
class Provider:
    """One fake provider, and how it sends us a message carrying one attachment."""

    channel: str
    fake: FakeServer
    gate: MediaGate
    # (file content, whether the provider has it) -> (the webhook, its provider id, the
    # attachment's reference URL)
    message_with_media: Callable[..., tuple[Webhook, str, str]]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers: dict[str, FakeServer] = {
        "twilio": FakeTwilio().start(),
        "whatsapp": FakeGraphAPI(wa.TOKEN, wa.PHONE_NUMBER_ID).start(),
        "telegram": FakeBotAPI(TELEGRAM_TOKEN).start(),
    }
    yield servers
    for server in servers.values():
        server.stop()


def _twilio(fake: FakeTwilio) -> Callable[..., tuple[Webhook, str, str]]:
    def message(content: bytes, known: bool = True) -> tuple[Webhook, str, str]:
        url = fake.add_media(content, "image/png")
        if not known:
            url = url.rsplit("/", 1)[0] + "/" + new_sid("ME")
        phone = f"+9665{50000000 + next(_numbers):08d}"
        sid = new_sid("MM")
        form = twilio_photo(phone, sid, url)
        path = "/webhooks/twilio"
        headers = {"X-Twilio-Signature": sign(PUBLIC_URL + path, form)}
        return Webhook(path, headers, form=form), sid, url

    return message


def _whatsapp(fake: FakeGraphAPI) -> Callable[..., tuple[Webhook, str, str]]:
    def message(content: bytes, known: bool = True) -> tuple[Webhook, str, str]:
        media_id = str(10**15 + next(_numbers) * 7919 + uuid.uuid4().int % 10**6)
        if known:
            fake.add_media(media_id, content, "image/png")
        wamid = wa.new_wamid()
        sender = f"9665{60000000 + next(_numbers):08d}"
        body = wa.encode(wa.image(sender, media_id, caption="صورة الهوية", wamid=wamid))
        return Webhook("/webhooks/whatsapp", wa.sign(body), body=body), wamid, f"media:{media_id}"

    return message


def _telegram(fake: FakeBotAPI) -> Callable[..., tuple[Webhook, str, str]]:
    def message(content: bytes, known: bool = True) -> tuple[Webhook, str, str]:
        update_id = 7_000_000 + next(_numbers) * 13 + uuid.uuid4().int % 1000
        chat = 800_000 + next(_numbers)
        if known:
            fake.add_file(f"ph-{update_id}-x", f"photos/file_{update_id}.jpg", content)
        body = json.dumps(updates.photo(update_id, chat, caption="الهوية")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
        }
        return (
            Webhook("/webhooks/telegram", headers, body=body),
            str(update_id),
            (f"tg-file:ph-{update_id}-x"),
        )

    return message


@pytest.fixture(params=["twilio", "whatsapp", "telegram"])
def provider(request: pytest.FixtureRequest, fakes: dict[str, FakeServer]) -> Iterator[Provider]:
    name = request.param
    fake = fakes[name]
    build = {"twilio": _twilio, "whatsapp": _whatsapp, "telegram": _telegram}[name]
    gate: MediaGate = fake.downloads  # type: ignore[attr-defined]
    gate.reset()
    yield Provider(name, fake, gate, build(fake))  # type: ignore[arg-type]
    gate.reset()  # never leave a download held for the next test


# -- the gateway: the web app in process, the worker as a command -----------------------------
@dataclass
class Gateway:
    client: TestClient
    runtime: Runtime
    database_url: str
    env: dict[str, str]

    async def post(self, hook: Webhook) -> int:
        if hook.form is not None:
            response = await self.client.post(hook.path, data=hook.form, headers=hook.headers)
        else:
            response = await self.client.post(hook.path, data=hook.body, headers=hook.headers)
        async with response:
            return response.status

    def start_worker(self) -> subprocess.Popen[bytes]:
        """`tawasul worker --burst`: works the queue until it is empty, then exits."""
        return subprocess.Popen(
            [sys.executable, "-m", "bot.app.cli", "worker", "--burst"],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    async def run_worker(self) -> None:
        await asyncio.to_thread(finish, self.start_worker())


def finish(worker: subprocess.Popen[bytes]) -> None:
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, output.decode(errors="replace")[-3000:]


def _environment(tmp_path: Path, fakes: dict[str, FakeServer], queue: str) -> dict[str, str]:
    return {
        "TAWASUL_VAR_DIR": str(tmp_path / "var"),
        "TAWASUL_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'tawasul.db'}",
        "TAWASUL_REDIS_URL": REDIS_URL,
        "TAWASUL_SECRET_KEY": SECRET_KEY,
        "TAWASUL_PROFILE": str(PROFILE),
        "TAWASUL_PUBLIC_URL": PUBLIC_URL,
        "TAWASUL_QUEUE": queue,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": "whatsapp:+966501234567",
        "TWILIO_API_BASE": fakes["twilio"].url,
        **wa.gateway_env(fakes["whatsapp"].url),
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_API_BASE": fakes["telegram"].url + "/bot",
    }


@pytest.fixture
async def gateway(
    tmp_path: Path, fakes: dict[str, FakeServer], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Gateway]:
    queue = f"media-test-{uuid.uuid4().hex[:8]}"
    env = _environment(tmp_path, fakes, queue)
    for name, value in env.items():  # each channel reads its own settings from here
        if not name.startswith("TAWASUL_"):
            monkeypatch.setenv(name, value)
    upgrade(env["TAWASUL_DATABASE_URL"])
    settings: Settings = load_settings(
        var_dir=tmp_path / "var",
        database_url=env["TAWASUL_DATABASE_URL"],
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        profile=PROFILE,
        public_url=PUBLIC_URL,
        queue_name=queue,
    )
    runtime = await open_runtime(settings, embedded_redis=False)
    # Two quick retries (no wait between tries), so that three tries fit in a test.
    fetches = MediaFetches(make_queue(REDIS_URL, queue), retry_intervals=(0, 0))
    app = create_app(runtime, media=fetches)
    async with TestServer(app) as server, TestClient(server) as client:
        yield Gateway(client, runtime, env["TAWASUL_DATABASE_URL"], {**os.environ, **env})
    await runtime.close()


def stored_message(gateway: Gateway, channel: str, provider_id: str) -> Message:
    with database(gateway.database_url) as session:
        message = session.scalar(
            select(Message).where(
                Message.channel == channel,
                Message.direction == "in",
                Message.provider_id == provider_id,
            )
        )
        assert message is not None, f"{channel} message {provider_id} was not recorded"
        return message


def attachment_row(gateway: Gateway, message_id: int) -> MessageMedia:
    with database(gateway.database_url) as session:
        (row,) = session.scalars(select(MessageMedia).where(MessageMedia.message_id == message_id))
        return row


def replies_to(gateway: Gateway, message: Message) -> list[Message]:
    with database(gateway.database_url) as session:
        return list(
            session.scalars(
                select(Message).where(
                    Message.conversation_id == message.conversation_id,
                    Message.direction == "out",
                )
            )
        )


# -- the guarantees -----------------------------------------------------------------------------
async def test_the_webhook_is_answered_while_the_download_is_held(
    gateway: Gateway, provider: Provider
) -> None:
    content = unique_png()
    hook, provider_id, url = provider.message_with_media(content)
    provider.gate.hold()
    # Before this change the webhook downloaded first, so with the download held it never
    # answered and this post timed out.
    assert await asyncio.wait_for(gateway.post(hook), 20) == 200
    message = stored_message(gateway, provider.channel, provider_id)
    (media,) = message.payload["media"]
    assert media["url"] == url and not media.get("stored_path")
    row = attachment_row(gateway, message.id)
    assert (row.status, row.url, row.stored_path) == (PENDING, url, None)
    assert provider.gate.served == 0  # nothing was downloaded by the web process

    worker = gateway.start_worker()
    try:
        # The worker's download reached the provider and waits there: the file is not in yet.
        await asyncio.to_thread(provider.gate.wait_until, lambda gate: gate.waiting == 1)
        assert attachment_row(gateway, message.id).status == PENDING
    finally:
        provider.gate.release()
        await asyncio.to_thread(finish, worker)

    row = attachment_row(gateway, message.id)
    assert (row.status, row.error, row.attempts) == (STORED, None, 1)
    assert row.stored_path is not None and Path(row.stored_path).read_bytes() == content
    digest = hashlib.sha256(content).hexdigest()
    assert Path(row.stored_path).name.startswith(digest)
    # Attached to the stored message itself, too.
    (media,) = stored_message(gateway, provider.channel, provider_id).payload["media"]
    assert (media["url"], media["stored_path"]) == (url, row.stored_path)
    assert [reply.status for reply in replies_to(gateway, message)] != []


async def test_a_download_that_fails_twice_is_tried_again_until_it_works(
    gateway: Gateway, provider: Provider
) -> None:
    content = unique_png()
    hook, provider_id, _url = provider.message_with_media(content)
    provider.gate.fail(2)
    assert await gateway.post(hook) == 200
    await gateway.run_worker()
    message = stored_message(gateway, provider.channel, provider_id)
    row = attachment_row(gateway, message.id)
    assert (row.status, row.error, row.attempts) == (STORED, None, 3)
    assert row.stored_path is not None and Path(row.stored_path).read_bytes() == content
    assert provider.gate.served == 3


async def test_a_download_that_always_fails_ends_visibly_failed_and_the_message_stays(
    gateway: Gateway, provider: Provider
) -> None:
    hook, provider_id, url = provider.message_with_media(unique_png())
    provider.gate.fail(None)
    assert await gateway.post(hook) == 200
    await gateway.run_worker()
    message = stored_message(gateway, provider.channel, provider_id)
    row = attachment_row(gateway, message.id)
    assert (row.status, row.attempts, row.stored_path, row.url) == (FAILED, 3, None, url)
    assert row.error  # the provider's last answer, for staff to read
    assert provider.gate.served == 3
    # The beneficiary was answered all the same: the reply was delivered to the provider.
    replies = replies_to(gateway, message)
    assert replies and all(reply.status == "sent" for reply in replies)


async def test_media_the_provider_does_not_have_fails_at_once_without_retries(
    gateway: Gateway, provider: Provider
) -> None:
    hook, provider_id, url = provider.message_with_media(unique_png(), known=False)
    assert await gateway.post(hook) == 200
    await gateway.run_worker()
    message = stored_message(gateway, provider.channel, provider_id)
    row = attachment_row(gateway, message.id)
    assert (row.status, row.attempts, row.stored_path, row.url) == (FAILED, 1, None, url)
    assert row.error


async def test_a_provider_retry_of_a_recorded_message_queues_no_second_fetch(
    gateway: Gateway, fakes: dict[str, FakeServer]
) -> None:
    twilio = fakes["twilio"]
    assert isinstance(twilio, FakeTwilio)
    content = unique_png()
    hook, provider_id, _url = _twilio(twilio)(content)
    assert await gateway.post(hook) == 200
    assert await gateway.post(hook) == 200  # Twilio's retry: a duplicate
    message = stored_message(gateway, "twilio", provider_id)
    jobs = gateway.runtime.redis
    queue = gateway.env["TAWASUL_QUEUE"]
    queued = [job.decode() for job in await jobs.lrange(f"rq:queue:{queue}", 0, -1)]
    assert queued.count(f"{queue}-media-{message.id}") == 1
    await gateway.run_worker()
    assert attachment_row(gateway, message.id).status == STORED


# -- the attachments' rows on both backends -----------------------------------------------------
async def test_attachments_are_recorded_once_and_resolved_once_stored(
    store: Store, cipher: Cipher
) -> None:
    media = (
        Media("image/jpeg", url="media:111"),
        Media("application/pdf", url="media:222", filename="عقد الإيجار.pdf"),
        Media("message/rfc822", filename="big.eml"),  # an email attachment that was not kept
        Media("text/plain", filename="note.txt", stored_path="/var/media/cd/cde.txt"),  # kept
    )
    message = InboundMessage(
        "whatsapp", AddressKind.WHATSAPP, "+966501119999", uuid.uuid4().hex, media=media
    )
    record = await store.inbound.record_inbound(message)
    assert record is not None
    attachments = Attachments(store.db)
    first = await attachments.record(record.message_id, "whatsapp", media)
    again = await attachments.record(record.message_id, "whatsapp", media)
    assert first == again
    assert [(a.position, a.status, a.media) for a in first] == [
        (0, PENDING, media[0]),
        (1, PENDING, media[1]),
        (2, FAILED, media[2]),
        (3, STORED, media[3]),
    ]
    kept = reference(record.message_id, 1, media[1])
    found = await attachments.resolve(kept)
    assert found is not None and found.pending and found.media.stored_path is None

    await attachments.mark_failed_attempt(record.message_id, 1, "HTTP 503", final=False)
    await attachments.mark_stored(record.message_id, 1, "/var/media/ab/abc.pdf")
    found = await attachments.resolve(kept)
    assert found is not None
    assert (found.status, found.error, found.attempts) == (STORED, None, 2)
    assert found.media.stored_path == "/var/media/ab/abc.pdf"
    with store.db.sessions() as session:
        stored = session.get(Message, record.message_id)
        assert stored is not None
        paths = [item["stored_path"] for item in stored.payload["media"]]
    assert paths == [None, "/var/media/ab/abc.pdf", None, "/var/media/cd/cde.txt"]

    await attachments.mark_failed_attempt(record.message_id, 0, "x" * 400, final=True)
    failed = (await attachments.of_message(record.message_id))[0]
    assert (failed.status, failed.error, failed.attempts) == (FAILED, "x" * 255, 1)
    assert await attachments.resolve({"url": "media:111"}) is None  # names no message
