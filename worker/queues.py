"""Putting jobs on the RQ queue: JSON payloads of ids, never pickles."""

from __future__ import annotations

import asyncio

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from worker import defaults


def make_queue(redis_url: str, name: str = defaults.QUEUE_NAME) -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url), serializer=JSONSerializer)


class QueueOutbox:
    """Hands stored replies to the worker; rq's client is blocking, so it runs in a thread."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def enqueue(self, message_ids: list[int]) -> None:
        if message_ids:
            await asyncio.to_thread(self._enqueue, message_ids)

    def _enqueue(self, message_ids: list[int]) -> None:
        retry = Retry(
            max=len(defaults.DELIVERY_RETRY_INTERVALS),
            interval=defaults.DELIVERY_RETRY_INTERVALS,
        )
        self.queue.enqueue_many(
            [
                Queue.prepare_data(
                    "worker.jobs.deliver",
                    args=(message_id,),
                    retry=retry,
                    timeout=defaults.JOB_TIMEOUT_SECONDS,
                    result_ttl=defaults.RESULT_TTL_SECONDS,
                    failure_ttl=defaults.FAILURE_TTL_SECONDS,
                    description=f"deliver message {message_id}",
                )
                for message_id in message_ids
            ]
        )
