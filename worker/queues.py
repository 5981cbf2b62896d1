"""Putting jobs on the RQ queue: JSON payloads of ids, never pickles."""

from __future__ import annotations

from typing import Any

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.client import Pipeline
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from bot.redis_batch import RedisBatch
from worker import defaults


def make_queue(redis_url: str, name: str = defaults.QUEUE_NAME) -> Queue:
    return Queue(name, connection=Redis.from_url(redis_url), serializer=JSONSerializer)


class QueueOutbox:
    """Hands stored replies to the worker without blocking the event loop.

    rq's client is blocking, and a thread for it costs more than the enqueue itself (the GIL
    is handed back and forth on every socket write). So rq builds its jobs into a pipeline
    that is never executed here, and the commands it buffered (rq's own job records, in rq's
    own layout) are sent on the async client, in one transaction with whatever other turns
    queue at the same moment (bot/redis_batch.py).
    """

    def __init__(self, queue: Queue, redis: AsyncRedis) -> None:
        """`redis` is an async client of the same server as the queue's connection."""
        self.queue = queue
        self.redis = RedisBatch(redis)
        self._retry = Retry(
            max=len(defaults.DELIVERY_RETRY_INTERVALS),
            interval=defaults.DELIVERY_RETRY_INTERVALS,
        )

    async def enqueue(self, message_ids: list[int]) -> None:
        if not message_ids:
            return
        buffered = self.queue.connection.pipeline(transaction=True)
        self.queue.enqueue_many([self._job(message_id) for message_id in message_ids], buffered)

        def replay(pipe: Pipeline) -> None:
            for args, options in buffered.command_stack:
                pipe.execute_command(*args, **options)

        await self.redis.run(replay)

    def _job(self, message_id: int) -> Any:
        return Queue.prepare_data(
            "worker.jobs.deliver",
            args=(message_id,),
            retry=self._retry,
            timeout=defaults.JOB_TIMEOUT_SECONDS,
            result_ttl=defaults.RESULT_TTL_SECONDS,
            failure_ttl=defaults.FAILURE_TTL_SECONDS,
            description=f"deliver message {message_id}",
            job_id=defaults.delivery_job_id(self.queue.name, message_id),
        )
