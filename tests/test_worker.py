"""The worker's delivery and its outbox sweep, on both backends, with a real RQ queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job
from sqlalchemy import update

from bot.app.runtime import Runtime, open_runtime
from bot.app.worker_runtime import WorkerRuntime, open_worker_runtime
from bot.models import AddressKind, DeliveryStatus, InboundMessage, OutboundMessage
from bot.settings import Settings
from bot.tables import Message
from tests.conftest import REDIS_URL
from worker import defaults
from worker.delivery import deliver
from worker.queues import make_queue
from worker.sweep import handle_unhandled, requeue_stranded


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await open_runtime(settings)
    yield runtime
    await runtime.close()


async def stored_reply(runtime: Runtime, text: str) -> int:
    """A reply stored as queued, as if Redis had been down when it was to be queued."""
    record = await runtime.store.inbound.record_inbound(
        InboundMessage("webchat", AddressKind.WEBCHAT, uuid.uuid4().hex, uuid.uuid4().hex, "hi")
    )
    assert record is not None
    (message_id,) = await runtime.store.inbound.save_turn(
        record, "webchat", {}, [OutboundMessage(text)], []
    )
    return message_id


async def test_a_stranded_reply_is_queued_again_once_and_then_delivered(
    runtime: Runtime,
) -> None:
    queue = make_queue(REDIS_URL, f"sweep-test-{uuid.uuid4().hex[:8]}")
    fresh = await stored_reply(runtime, "just now")
    stranded = await stored_reply(runtime, "lost in transit")
    with runtime.store.db.sessions.begin() as session:
        session.execute(
            update(Message)
            .where(Message.id == stranded)
            .values(updated_at=datetime.now(UTC) - timedelta(minutes=5))
        )

    assert await requeue_stranded(runtime, queue) == [stranded]  # the fresh one is not due
    assert queue.job_ids == [defaults.delivery_job_id(queue.name, stranded)]
    assert not Job.exists(defaults.delivery_job_id(queue.name, fresh), connection=queue.connection)
    job = Job.fetch(
        defaults.delivery_job_id(queue.name, stranded),
        connection=queue.connection,
        serializer=queue.serializer,
    )
    assert (job.func_name, job.args) == ("worker.jobs.deliver", [stranded])
    assert await requeue_stranded(runtime, queue) == []  # its job exists now: not doubled

    assert await deliver(runtime, stranded, last_attempt=True) == "sent"
    delivery = await runtime.store.deliveries.delivery(stranded)
    assert delivery is not None and delivery.status is DeliveryStatus.SENT
    assert await deliver(runtime, stranded, last_attempt=True) == "already sent"


@pytest.fixture
async def worker_runtime(settings: Settings) -> AsyncIterator[WorkerRuntime]:
    context = await open_worker_runtime(settings, REDIS_URL)
    yield context
    await context.close()


async def test_the_inbound_sweep_handles_a_message_left_unhandled_once(
    worker_runtime: WorkerRuntime,
) -> None:
    """A message recorded by a process that died before handling it, whose provider never
    retried: the worker's sweep hands it to the router, once; one still in hand elsewhere
    (its claim's process is alive) is left to that process."""
    store = worker_runtime.store
    orphan = InboundMessage(
        "webchat", AddressKind.WEBCHAT, uuid.uuid4().hex, uuid.uuid4().hex, "مرحبا"
    )
    in_hand = InboundMessage(
        "webchat", AddressKind.WEBCHAT, uuid.uuid4().hex, uuid.uuid4().hex, "مرحبا"
    )
    for message in (orphan, in_hand):
        assert await store.inbound.record_inbound(message) is not None
    redis = worker_runtime.runtime.redis
    await redis.set(f"tawasul:seen:webchat:{in_hand.provider_id}", "a11e0000a11e0001.1", ex=60)
    await redis.set("tawasul:alive:a11e0000a11e0001", "1", ex=60)

    assert await handle_unhandled(worker_runtime, older_than=timedelta(0)) == (2, 1)
    assert await store.deliveries.count_messages("in", "handled") == 1
    replies = await store.deliveries.count_messages("out")
    assert replies >= 1  # the greeting, queued for the web chat
    assert await handle_unhandled(worker_runtime, older_than=timedelta(0)) == (1, 0)
    assert await store.deliveries.count_messages("out") == replies  # not handled twice
