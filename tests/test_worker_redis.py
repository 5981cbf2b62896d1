"""The worker and a Redis that goes away (issue 10, item 9): a real `tawasul worker` on a
redis-server of the test's own, which is killed and started again empty. The worker stays up,
and the replies Redis lost reach the provider promptly once it is back."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis as AsyncRedis

from bot.crypto import Cipher
from bot.db import Database
from bot.models import AddressKind, InboundMessage, OutboundMessage
from bot.storage import Store
from tests.conftest import SECRET_KEY
from tests.fakes.server import running
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.processes import Gateway, RedisServer, gateway, redis_server
from worker.queues import QueueOutbox, make_queue

SMS_FROM = "+12025550143"


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def worker_only(tmp_path: Path, own_redis: RedisServer, fake: FakeTwilio) -> Iterator[Gateway]:
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_API_BASE": fake.url,
    }
    with gateway(tmp_path, own_redis.url, env) as gw:
        gw.start_worker()
        yield gw


@pytest.fixture
async def store(worker_only: Gateway, cipher: Cipher) -> AsyncIterator[Store]:
    db = Database(worker_only.database_url)
    yield Store(db, Cipher(SECRET_KEY))
    db.close()


_numbers = itertools.count(1)


async def stored_replies(store: Store, count: int) -> dict[str, int]:
    """One SMS reply stored as queued for each of `count` new phones, as a web process's
    turn leaves it; returns {phone: reply id}."""
    replies = {}
    for n in range(count):
        phone = f"+9665{80000000 + next(_numbers):08d}"
        record = await store.inbound.record_inbound(
            InboundMessage("twilio", AddressKind.SMS, phone, uuid.uuid4().hex, "مرحبا")
        )
        assert record is not None
        (reply_id,) = await store.inbound.save_turn(
            record, "twilio", {}, [OutboundMessage(f"رد رقم {n}")], []
        )
        replies[phone] = reply_id
    return replies


async def queue_replies(gw: Gateway, redis_url: str, ids: list[int]) -> None:
    """Hand the replies to the worker as the web process does (the outbox list)."""
    client = AsyncRedis.from_url(redis_url)
    try:
        await QueueOutbox(make_queue(redis_url, gw.env["TAWASUL_QUEUE"]), client).enqueue(ids)
    finally:
        await client.aclose()


def wait_delivered(fake: FakeTwilio, phones: list[str], within: float) -> None:
    """Block until every phone got its reply, for at most `within` seconds in all."""
    deadline = time.monotonic() + within
    for phone in phones:
        fake.wait_sent(phone, 1, timeout=max(0.1, deadline - time.monotonic()))


async def test_the_worker_outlives_redis_and_sends_what_redis_lost(
    worker_only: Gateway, own_redis: RedisServer, fake: FakeTwilio, store: Store
) -> None:
    (first_phone, first_id), *_ = (await stored_replies(store, 1)).items()
    await queue_replies(worker_only, own_redis.url, [first_id])
    await asyncio.to_thread(wait_delivered, fake, [first_phone], 30)  # the worker is at work

    # Replies handed to the worker, which is paused before it takes them; then Redis dies
    # and comes back empty; and replies whose web process could not queue them at all. All
    # are stored before the pause: a worker stopped in the middle of a write would hold the
    # SQLite lock, and the test's own writes would wait for it.
    assert worker_only.worker is not None
    handed_over = await stored_replies(store, 20)
    while_away = await stored_replies(store, 5)  # their web process could not queue them
    worker_only.worker.send_signal(signal.SIGSTOP)
    await queue_replies(worker_only, own_redis.url, list(handed_over.values()))
    own_redis.kill()
    worker_only.worker.send_signal(signal.SIGCONT)
    own_redis.start()  # on the same port, empty

    lost = [*handed_over, *while_away]
    await asyncio.to_thread(wait_delivered, fake, lost, 20)  # promptly: not minutes later
    assert worker_only.worker.poll() is None, worker_only.log("worker")[-2000:]
    for phone in lost:
        assert len(fake.sent_to(phone)) == 1  # each once
