"""The sweeps: nothing stored is left waiting because Redis forgot it.

Outbox: replies stored as queued whose delivery job is gone are queued again. That happens
when Redis was unreachable at the moment a reply was queued, came back empty, or a drain job
died between reading the outbox list and queueing the jobs (the reply is in the database,
its job is not) — without the sweep such a reply would never be sent.

Sends cut off: a message claimed for sending (its request out) whose worker died is not sent
again; once IN_DOUBT_AFTER_SECONDS have passed it is `unknown`, which the provider's status
report, carrying our id, still settles.

Inbound: messages recorded but never handled (the process handling them died, or their turn
was cut off, and no retry of the provider got through) are handed to the router again; the
router's claim and the database's "handled once" mark make that exactly once, even when a
retry arrives at the same moment.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol, runtime_checkable

from rq import Queue

from bot.models import InboundMessage, utcnow
from worker import defaults
from worker.context import WorkerContext
from worker.queues import enqueue_deliveries

log = logging.getLogger(__name__)


@runtime_checkable
class HandlesInbound(Protocol):
    """A worker context that can route an inbound message (the application's, with its
    router); returns False when the message turned out to be handled already or in hand."""

    async def handle_inbound(self, message: InboundMessage) -> bool: ...


async def requeue_stranded(
    context: WorkerContext,
    queue: Queue,
    older_than: timedelta = timedelta(seconds=defaults.STRANDED_AFTER_SECONDS),
    limit: int = defaults.SWEEP_BATCH,
) -> list[int]:
    """Queue again every old queued reply that has no job; returns their message ids. Sends
    claimed long ago and never settled become `unknown` first (never queued again)."""
    in_doubt = await context.store.deliveries.strand_in_doubt(
        timedelta(seconds=defaults.IN_DOUBT_AFTER_SECONDS)
    )
    if in_doubt:
        log.warning("%d sends cut off mid-request are unknown until reported", len(in_doubt))
    candidates = await context.store.deliveries.stranded_outbound(older_than, limit)
    if not candidates:
        return []
    connection = queue.connection

    def without_job() -> list[int]:
        """Those no delivery job carries (its marker lapsed, or it was never queued), nor
        waiting in the outbox list for the drain."""
        markers = [defaults.queued_marker_key(queue.name, message_id) for message_id in candidates]
        with connection.pipeline(transaction=False) as pipe:
            pipe.lrange(defaults.outbox_key(queue.name), 0, -1)
            pipe.mget(markers)
            waiting, present = pipe.execute()
        in_outbox = {int(value) for value in waiting}
        pairs = zip(candidates, present, strict=True)
        return [id_ for id_, mark in pairs if not mark and id_ not in in_outbox]

    stranded = await asyncio.to_thread(without_job)
    if stranded:
        log.warning("outbox sweep: queueing %d stranded replies again", len(stranded))
        await asyncio.to_thread(enqueue_deliveries, queue, stranded)
    return stranded


async def handle_unhandled(
    context: WorkerContext,
    older_than: timedelta = timedelta(seconds=defaults.UNHANDLED_AFTER_SECONDS),
    max_age: timedelta = timedelta(seconds=defaults.UNHANDLED_MAX_AGE_SECONDS),
    limit: int = defaults.UNHANDLED_BATCH,
) -> tuple[int, int]:
    """Hand recorded, never-handled inbound messages to the router, oldest first; returns
    (how many were found, how many this sweep handled)."""
    if not isinstance(context, HandlesInbound):
        return 0, 0  # this process has no router (a test's bare runtime)
    now = utcnow()
    found = await context.store.inbound.unhandled(now - older_than, now - max_age, limit)
    handled = 0
    for message in found:  # in order: one person's messages are handled as they came
        try:
            handled += await context.handle_inbound(message)
        except Exception:
            log.exception("inbound sweep: message %s failed again", message.provider_id)
    if handled:
        log.warning("inbound sweep: handled %d messages left unhandled", handled)
    return len(found), handled


def schedule_sweep(queue: Queue, delay_seconds: float = defaults.SWEEP_INTERVAL_SECONDS) -> None:
    """Schedule the next sweep; the fixed job id keeps several workers from doubling it."""
    queue.enqueue_in(
        timedelta(seconds=delay_seconds),
        "worker.jobs.sweep",
        job_id=defaults.sweep_job_id(queue.name),
        description="requeue stranded replies, handle unhandled messages",
        result_ttl=defaults.RESULT_TTL_SECONDS,
    )


def sweep_now(queue: Queue, stranded_after: float) -> None:
    """One sweep at the front of the queue, outside the schedule (after Redis came back),
    taking queued replies older than `stranded_after` seconds as possibly lost."""
    queue.enqueue(
        "worker.jobs.sweep",
        kwargs={"stranded_after": stranded_after, "reschedule": False},
        job_id=defaults.sweep_job_id(queue.name) + "-now",
        description="sweep after Redis came back",
        result_ttl=defaults.RESULT_TTL_SECONDS,
        at_front=True,
    )
