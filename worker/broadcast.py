"""Broadcast jobs: a chain of batch jobs turning recipients into messages and sending them,
and a watch that resumes what a crash left and closes finished broadcasts.

Each batch job claims the next BROADCAST_BATCH recipients in one transaction (their message
rows are created there), queues its successor before it sends (so a second worker can take
the next batch meanwhile), then delivers its messages concurrently through the shared
budgets, and claims the next batch while those are out (a few batches in flight per process,
for a time slice that ends early when a reply waits). A 100,000-recipient broadcast is a few
hundred short jobs, never 100,000, and no process holds more than BATCHES_IN_FLIGHT batches.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol

from rq import Queue

from bot.storage.broadcasts import Broadcasts
from worker import defaults
from worker.context import WorkerContext
from worker.delivery import budget_for, deliver_many
from worker.inflight import in_flight, settle, start_task, take_batch_slot

log = logging.getLogger(__name__)


class BroadcastQueues(Protocol):
    """What the broadcast jobs ask of the queue layer (worker/jobs.py gives it)."""

    async def next_batch(self, broadcast_id: int) -> None: ...

    async def retry_later(
        self, message_ids: list[int], delay: int, *, bulk: bool = False
    ) -> None: ...


def chain_key(queue_name: str, broadcast_id: int) -> str:
    """Present while a batch job of the broadcast is queued or running."""
    return f"tawasul:broadcast:{queue_name}:{broadcast_id}:chain"


CHAIN_SECONDS = 60


def batch_size(context: WorkerContext) -> int:
    """Recipients per batch job: BROADCAST_BATCH, or half a second of the slowest budget
    of the channels that are on, so a reply never waits long behind a running batch."""
    limits = budget_for(context).limits
    if limits is None:
        return defaults.BROADCAST_BATCH
    rates = [
        limit.rate
        for name, limit in limits.items()
        if name.split("-")[0] in context.channels and not name.endswith("-chat")
    ]
    slowest = min(rates, default=float(defaults.BROADCAST_BATCH))
    return max(1, min(defaults.BROADCAST_BATCH, int(slowest * BATCH_SECONDS)))


BATCH_SECONDS = 0.5


async def run_batch(context: WorkerContext, broadcast_id: int, queues: BroadcastQueues) -> str:
    """Batches of a broadcast for one time slice: claim one, queue the job's successor (so
    another worker can go on meanwhile), start its sends, claim the next while they are out,
    up to BATCHES_IN_FLIGHT of this process at once. The job ends when the slice is over or a
    reply waits (rq takes replies first), leaving its sends to finish on the process's loop."""
    broadcasts = Broadcasts(context.store.db)
    size = batch_size(context)
    key = chain_key(context.settings.queue_name, broadcast_id)
    deadline = asyncio.get_running_loop().time() + defaults.BROADCAST_SLICE_SECONDS
    taken = batches = 0
    while await take_batch_slot(
        context, lambda: replies_waiting(context), deadline, first=not batches
    ):
        try:
            claimed, message_ids = await broadcasts.claim_batch(
                broadcast_id, size, context.profile, list(context.channels)
            )
        except BaseException:
            in_flight(context).batches.release()
            raise
        if not claimed:
            in_flight(context).batches.release()
            if not batches:
                await context.redis.delete(key)
            # The chain's last job: once this process's sends are settled, close it (the
            # watch closes it otherwise; counting after every batch would read the whole
            # audience a thousand times over).
            await settle(context)
            await broadcasts.finish_if_done(broadcast_id)
            return f"{taken} recipients in {batches} batches; nothing left"
        await context.redis.set(key, 1, ex=CHAIN_SECONDS)
        if not batches:
            await queues.next_batch(broadcast_id)
        taken, batches = taken + claimed, batches + 1
        start_task(context, _send_batch(context, message_ids, queues), f"broadcast {broadcast_id}")
    if not batches:  # it gave way before its first batch: the chain goes on
        await queues.next_batch(broadcast_id)
    return f"{taken} recipients in {batches} batches, sending"


async def _send_batch(
    context: WorkerContext, message_ids: list[int], queues: BroadcastQueues
) -> None:
    try:
        await deliver_many(context, message_ids, bulk=True, retry_later=queues.retry_later)
    finally:
        in_flight(context).batches.release()


async def replies_waiting(context: WorkerContext) -> bool:
    """Whether a job waits in the replies queue (rq's list of job ids)."""
    name = Queue.redis_queue_namespace_prefix + context.settings.queue_name
    return bool(await context.redis.llen(name))


async def start(context: WorkerContext, broadcast_id: int, queues: BroadcastQueues) -> str:
    """A scheduled broadcast's time came: it runs, unless it was cancelled meanwhile."""
    if not await Broadcasts(context.store.db).start(broadcast_id):
        return "cancelled before its time"
    await queues.next_batch(broadcast_id)
    return "started"


async def watch(context: WorkerContext, queues: BroadcastQueues) -> int:
    """For every running broadcast: send again what a crash left queued (claims keep it to
    once; a send cut off mid-request becomes unknown), restart a broken chain, close it when
    done. Returns how many broadcasts are running."""
    broadcasts = Broadcasts(context.store.db)
    running = await broadcasts.running()
    for broadcast_id in running:
        await context.store.deliveries.strand_in_doubt(
            timedelta(seconds=defaults.IN_DOUBT_AFTER_SECONDS)
        )
        left = await broadcasts.queued_messages(broadcast_id, defaults.IN_DOUBT_AFTER_SECONDS)
        if left:
            log.warning("broadcast %s: resuming %d stranded messages", broadcast_id, len(left))
            await deliver_many(context, left, bulk=True, retry_later=queues.retry_later)
        counts = await broadcasts.counts(broadcast_id)
        key = chain_key(context.settings.queue_name, broadcast_id)
        if counts is not None and counts.pending and not await context.redis.exists(key):
            log.warning("broadcast %s: its batch chain was lost; starting it again", broadcast_id)
            await context.redis.set(key, 1, ex=CHAIN_SECONDS)
            await queues.next_batch(broadcast_id)
        await broadcasts.finish_if_done(broadcast_id)
    await asyncio.sleep(0)
    return len(running)
