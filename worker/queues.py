"""Putting replies on their way to the worker: JSON payloads of ids, never pickles.

The web process does not build an rq job per reply: building and sending one costs more than
the rest of a message's Redis work together. It appends the reply ids to the outbox list and,
when no drain job is on its way, queues one; the worker's drain job (`drain_outbox`) turns the
ids into one delivery job each, with rq's retries. Replies are in the database before any of
this, so an id lost on the way is found by the sweep (worker/sweep.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from bot.redis_batch import script_batch
from worker import defaults

# Appends the ids (ARG, comma-separated) to the outbox list (KEYS[1]) and raises its drain
# flag; answers 1 when the flag was down, so that this caller queues a drain job.
_PUSH = f"""
for id in string.gmatch(ARG, '[^,]+') do
    redis.call('rpush', KEYS[1], id)
end
if redis.call('set', KEYS[1] .. ':drain', '1', 'NX', 'EX', {defaults.DRAIN_FLAG_SECONDS}) then
    return 1
end
return 0
"""

_RETRY = Retry(
    max=len(defaults.DELIVERY_RETRY_INTERVALS), interval=defaults.DELIVERY_RETRY_INTERVALS
)


# The drain job's description and limits: the same for every drain, so built once.
_DRAIN_JOB = Queue.prepare_data(
    "worker.jobs.drain_outbox",
    description="turn queued replies into delivery jobs",
    timeout=defaults.JOB_TIMEOUT_SECONDS,
    result_ttl=defaults.RESULT_TTL_SECONDS,
    at_front=True,  # replies should not wait behind a backlog twice
)


def make_queue(redis_url: str, name: str = defaults.QUEUE_NAME) -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url), serializer=JSONSerializer)


class QueueOutbox:
    """Hands stored replies to the worker without blocking the event loop."""

    def __init__(self, queue: Queue, redis: AsyncRedis) -> None:
        """`redis` is an async client of the same server as the queue's connection: the hot
        path (pushing ids) runs on it; the queue's own blocking client only queues drains."""
        self.queue = queue
        self._outbox = defaults.outbox_key(queue.name)
        self._push = script_batch(redis).add(_PUSH)

    async def enqueue(self, message_ids: list[int]) -> None:
        if message_ids and await self._push(self._outbox, ",".join(map(str, message_ids))):
            await self._queue_drain()

    async def _queue_drain(self) -> None:
        """rq's client blocks (it even asks the server's version with INFO), so the drain job
        is queued from a thread; this happens once per raised flag, not once per reply."""
        await asyncio.to_thread(self._queue_drain_blocking)

    def _queue_drain_blocking(self) -> None:
        """rq's documented bulk form: `enqueue_many` into a pipeline of our own, then run it."""
        with self.queue.connection.pipeline() as pipe:
            self.queue.enqueue_many([_DRAIN_JOB], pipeline=pipe)
            pipe.execute()


def enqueue_deliveries(queue: Queue, message_ids: list[int]) -> None:
    """One delivery job per reply, with the retry schedule (blocking: worker side)."""
    queue.enqueue_many([_delivery_job(queue.name, message_id) for message_id in message_ids])


def drain_outbox(queue: Queue) -> list[int]:
    """Turn every id waiting in the outbox list into a delivery job; returns the ids.

    The flag is lowered before the list is read, so an id pushed after the last read finds
    it down and queues the next drain.
    """
    connection = queue.connection
    key = defaults.outbox_key(queue.name)
    connection.delete(f"{key}:drain")
    drained: list[int] = []
    while True:
        raw: Any = connection.lpop(key, defaults.DRAIN_BATCH)
        if not raw:
            return drained
        ids = [int(value) for value in raw]
        enqueue_deliveries(queue, ids)
        drained.extend(ids)


def _delivery_job(queue_name: str, message_id: int) -> Any:
    return Queue.prepare_data(
        "worker.jobs.deliver",
        args=(message_id,),
        retry=_RETRY,
        timeout=defaults.JOB_TIMEOUT_SECONDS,
        result_ttl=defaults.RESULT_TTL_SECONDS,
        failure_ttl=defaults.FAILURE_TTL_SECONDS,
        description=f"deliver message {message_id}",
        job_id=defaults.delivery_job_id(queue_name, message_id),
    )
