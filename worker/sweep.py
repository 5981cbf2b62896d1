"""The outbox sweep: replies stored as queued whose delivery job is gone are queued again.

That happens when Redis was unreachable at the moment a reply was queued, or a drain job died
between reading the outbox list and queueing the jobs (the reply is in the database, its job
is not) — without the sweep such a reply would never be sent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from rq import Queue

from worker import defaults
from worker.context import WorkerContext
from worker.queues import enqueue_deliveries

log = logging.getLogger(__name__)


async def requeue_stranded(
    context: WorkerContext,
    queue: Queue,
    older_than: timedelta = timedelta(seconds=defaults.STRANDED_AFTER_SECONDS),
) -> list[int]:
    """Queue again every old queued reply that has no job; returns their message ids."""
    candidates = await context.store.deliveries.stranded_outbound(older_than)
    if not candidates:
        return []
    connection = queue.connection

    def without_job() -> list[int]:
        """Those no delivery job carries (its marker lapsed, or it was never queued)."""
        markers = [defaults.queued_marker_key(queue.name, message_id) for message_id in candidates]
        present = connection.mget(markers)
        return [
            message_id for message_id, mark in zip(candidates, present, strict=True) if not mark
        ]

    stranded = await asyncio.to_thread(without_job)
    if stranded:
        log.warning("outbox sweep: queueing %d stranded replies again", len(stranded))
        await asyncio.to_thread(enqueue_deliveries, queue, stranded)
    return stranded


def schedule_sweep(queue: Queue, delay_seconds: int = defaults.SWEEP_INTERVAL_SECONDS) -> None:
    """Schedule the next sweep; the fixed job id keeps several workers from doubling it."""
    queue.enqueue_in(
        timedelta(seconds=delay_seconds),
        "worker.jobs.sweep",
        job_id=defaults.sweep_job_id(queue.name),
        description="requeue stranded replies",
        result_ttl=defaults.RESULT_TTL_SECONDS,
    )
