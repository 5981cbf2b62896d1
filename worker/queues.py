"""Putting replies on their way to the worker: JSON payloads of ids, never pickles.

The web process does not build an rq job per reply: building and sending one costs more than
the rest of a message's Redis work together. It appends the reply ids to the outbox list and,
when no drain job is on its way, queues one; the worker's drain job (`drain_outbox`) turns the
ids into one delivery job each, with rq's retries. Replies are in the database before any of
this, so an id lost on the way is found by the sweep (worker/sweep.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq import Queue
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


def enqueue_deliveries(
    queue: Queue, message_ids: list[int], *, delay: int = 0, bulk: bool = False
) -> None:
    """Delivery jobs of up to DELIVERY_BATCH ids each, with a marker per id so the sweep
    knows a job carries it (blocking: worker side). Replies go on `queue`, which the worker
    takes first; bulk messages on its bulk queue."""
    if not message_ids:
        return
    target = bulk_queue(queue) if bulk else queue
    marker_seconds = delay + defaults.STRANDED_AFTER_SECONDS + defaults.JOB_TIMEOUT_SECONDS
    size = defaults.DELIVERY_BATCH
    batches = [message_ids[i : i + size] for i in range(0, len(message_ids), size)]
    with queue.connection.pipeline() as pipe:
        for message_id in message_ids:
            pipe.set(defaults.queued_marker_key(queue.name, message_id), 1, ex=marker_seconds)
        if delay:
            for batch in batches:
                target.enqueue_in(
                    timedelta(seconds=delay),
                    # A broadcast's message is checked again for consent and stop when it
                    # is tried again: the contact may have written STOP meanwhile.
                    "worker.jobs.deliver_bulk" if bulk else "worker.jobs.deliver",
                    *batch,
                    job_timeout=defaults.JOB_TIMEOUT_SECONDS,
                    result_ttl=defaults.RESULT_TTL_SECONDS,
                    failure_ttl=defaults.FAILURE_TTL_SECONDS,
                    description=f"deliver {len(batch)} message(s) again",
                    pipeline=pipe,
                )
        else:
            target.enqueue_many(
                [_delivery_job(queue.name, batch, bulk) for batch in batches], pipeline=pipe
            )
        pipe.execute()


def bulk_queue(queue: Queue) -> Queue:
    """The deployment's queue for broadcast work, beside `queue` (the replies')."""
    return Queue(
        defaults.bulk_queue_name(queue.name),
        connection=queue.connection,
        serializer=JSONSerializer,
    )


def drain_outbox(queue: Queue) -> list[int]:
    """Turn every id waiting in the outbox list into delivery jobs; returns the ids.

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


def _delivery_job(queue_name: str, message_ids: list[int], bulk: bool) -> Any:
    """A job delivering a batch; its id names the first message (one job per batch)."""
    kind = "bulk " if bulk else ""
    return Queue.prepare_data(
        "worker.jobs.deliver_bulk" if bulk else "worker.jobs.deliver",
        args=tuple(message_ids),
        timeout=defaults.JOB_TIMEOUT_SECONDS,
        result_ttl=defaults.RESULT_TTL_SECONDS,
        failure_ttl=defaults.FAILURE_TTL_SECONDS,
        description=f"deliver {len(message_ids)} {kind}message(s) from {message_ids[0]}",
        job_id=defaults.delivery_job_id(queue_name, message_ids[0]) + ("-bulk" if bulk else ""),
    )
