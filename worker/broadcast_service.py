"""The broadcast operations a manager has (the CLI now, the staff console later): count an
audience, create (now or at a time), list, follow, cancel. Creating one queues its first
batch job on the deployment's bulk queue, or schedules it with rq's scheduler (`enqueue_at`;
`tawasul worker` runs with the scheduler)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC

from rq import Queue

from bot.db import Database
from bot.storage.broadcasts import BroadcastCounts, Broadcasts, BroadcastSpec, BroadcastSummary
from worker import defaults
from worker.queues import bulk_queue


@dataclass(frozen=True)
class Created:
    broadcast_id: int | None  # None for a dry run
    per_channel: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.per_channel.values())


def queue_batch(queue: Queue, broadcast_id: int) -> None:
    """Queue the next batch job of a broadcast (blocking)."""
    bulk_queue(queue).enqueue(
        "worker.jobs.broadcast_batch",
        broadcast_id,
        job_timeout=defaults.BROADCAST_JOB_TIMEOUT_SECONDS,
        result_ttl=defaults.RESULT_TTL_SECONDS,
        failure_ttl=defaults.FAILURE_TTL_SECONDS,
        description=f"next batch of broadcast {broadcast_id}",
    )


def schedule_watch(queue: Queue, delay_seconds: int = defaults.BROADCAST_WATCH_SECONDS) -> None:
    """The broadcast watch, under one job id so several workers do not double it."""
    from datetime import timedelta

    bulk_queue(queue).enqueue_in(
        timedelta(seconds=delay_seconds),
        "worker.jobs.broadcast_watch",
        job_id=defaults.broadcast_watch_job_id(queue.name),
        description="resume and close running broadcasts",
        result_ttl=defaults.RESULT_TTL_SECONDS,
    )


class BroadcastService:
    def __init__(self, db: Database, queue: Queue, default_language: str) -> None:
        self.broadcasts = Broadcasts(db)
        self.queue = queue
        self.default_language = default_language

    async def create(self, spec: BroadcastSpec, *, dry_run: bool = False) -> Created:
        if dry_run:
            return Created(None, await self.broadcasts.count(spec, self.default_language))
        broadcast_id, counts = await self.broadcasts.create(spec, self.default_language)
        await asyncio.to_thread(self._queue_start, broadcast_id, spec)
        return Created(broadcast_id, counts)

    def _queue_start(self, broadcast_id: int, spec: BroadcastSpec) -> None:
        if spec.at is not None:
            bulk_queue(self.queue).enqueue_at(
                spec.at.astimezone(UTC),
                "worker.jobs.broadcast_start",
                broadcast_id,
                job_timeout=defaults.BROADCAST_JOB_TIMEOUT_SECONDS,
                result_ttl=defaults.RESULT_TTL_SECONDS,
                description=f"start broadcast {broadcast_id}",
            )
        else:
            queue_batch(self.queue, broadcast_id)
        schedule_watch(self.queue)

    async def summaries(self) -> list[BroadcastSummary]:
        return await self.broadcasts.summaries()

    async def status(self, broadcast_id: int) -> BroadcastCounts | None:
        return await self.broadcasts.counts(broadcast_id)

    async def cancel(self, broadcast_id: int) -> bool:
        return await self.broadcasts.cancel(broadcast_id)
