"""The web side of the outbox (worker/queues.py): rq's blocking client stays off the event loop.

The web process shares one event loop among all requests, so a blocking call there (rq asks the
server's version with INFO before queueing a job) stalls every conversation. These tests watch
the queue's own Redis connection from inside redis-py and record which thread used it.
"""

from __future__ import annotations

import json
import threading
import uuid
import zlib
from typing import Any

from redis import Connection, Redis
from redis.asyncio import Redis as AsyncRedis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.conftest import REDIS_URL
from worker import defaults
from worker.queues import QueueOutbox, drain_outbox, make_queue


def watched_queue(name: str, threads: list[int]) -> Queue:
    """A queue whose blocking client notes the thread of every command it sends."""

    class ThreadNotingConnection(Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            threads.append(threading.get_ident())
            super().send_packed_command(command, check_health)

    connection = Redis.from_url(REDIS_URL, connection_class=ThreadNotingConnection)
    return Queue(name, connection=connection, serializer=JSONSerializer)


def stored_call(queue: Queue, job_id: str) -> list[Any]:
    """The job's call as rq stored it in Redis: JSON (zlib-compressed), never a pickle."""
    raw = queue.connection.hget(Job.key_for(job_id), "data")
    assert isinstance(raw, bytes)
    call = json.loads(zlib.decompress(raw))
    assert isinstance(call, list)
    return call


async def test_the_drain_job_is_queued_through_rq_without_touching_the_event_loop(
    redis: AsyncRedis,
) -> None:
    name = f"outbox-test-{uuid.uuid4().hex[:8]}"
    threads: list[int] = []
    outbox = QueueOutbox(watched_queue(name, threads), redis)

    await outbox.enqueue([41, 42])
    await outbox.enqueue([43])  # the drain flag is up: ids only, no second drain job

    assert threads, "the drain job was not queued on the queue's own connection"
    assert threading.get_ident() not in threads  # the event loop's thread never blocked on it
    queue = make_queue(REDIS_URL, name)
    (drain_id,) = queue.job_ids
    assert stored_call(queue, drain_id) == ["worker.jobs.drain_outbox", None, [], {}]
    drain = queue.fetch_job(drain_id)
    assert drain is not None and drain.timeout == defaults.JOB_TIMEOUT_SECONDS
    assert drain.result_ttl == defaults.RESULT_TTL_SECONDS
    assert drain_outbox(queue) == [41, 42, 43]


async def test_a_drain_job_goes_ahead_of_jobs_already_waiting(redis: AsyncRedis) -> None:
    name = f"outbox-test-{uuid.uuid4().hex[:8]}"
    queue = make_queue(REDIS_URL, name)
    waiting = queue.enqueue("worker.jobs.sweep")
    await QueueOutbox(queue, redis).enqueue([7])
    drain_id, waiting_id = queue.job_ids
    assert waiting_id == waiting.id
    assert stored_call(queue, drain_id)[0] == "worker.jobs.drain_outbox"
