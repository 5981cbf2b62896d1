"""Putting jobs on the RQ queue: JSON payloads of ids, never pickles."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from redis import Redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from worker import defaults


def make_queue(redis_url: str, name: str = defaults.QUEUE_NAME) -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url), serializer=JSONSerializer)


class QueueOutbox:
    """Hands stored replies to the worker; rq's client is blocking, so it runs on one
    dedicated thread (not the shared default pool the database may be waiting on)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._retry = Retry(
            max=len(defaults.DELIVERY_RETRY_INTERVALS),
            interval=defaults.DELIVERY_RETRY_INTERVALS,
        )
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enqueue")

    async def enqueue(self, message_ids: list[int]) -> None:
        if message_ids:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._thread, self._enqueue, message_ids)

    def _enqueue(self, message_ids: list[int]) -> None:
        self.queue.enqueue_many(
            [
                Queue.prepare_data(
                    "worker.jobs.deliver",
                    args=(message_id,),
                    retry=self._retry,
                    timeout=defaults.JOB_TIMEOUT_SECONDS,
                    result_ttl=defaults.RESULT_TTL_SECONDS,
                    failure_ttl=defaults.FAILURE_TTL_SECONDS,
                    description=f"deliver message {message_id}",
                    job_id=defaults.delivery_job_id(self.queue.name, message_id),
                )
                for message_id in message_ids
            ]
        )
