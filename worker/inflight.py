"""What one worker process has in flight: its sends awaiting a provider (at most IN_FLIGHT
bulk ones and REPLIES_IN_FLIGHT replies, whichever job started them), the batches started
and not yet settled (at most BATCHES_IN_FLIGHT), and the tasks still sending after the job
that started them returned.

A delivery or broadcast job claims its messages and starts their sends here, then returns:
the next job (another batch, a beneficiary's reply) starts at once, and the database work of
one batch overlaps the sends of the others (mailroom and courier work so). Nothing about
exactly-once changes: every send is still claimed in the database right before its request,
and a process killed with sends in flight leaves them `sending`, settled by the provider's
report or made `unknown`, never sent again blind.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.send_budget import parse_limits
from worker import defaults
from worker.context import WorkerContext

log = logging.getLogger(__name__)


@dataclass
class InFlight:
    loop: asyncio.AbstractEventLoop
    batches: asyncio.Semaphore
    sends: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(defaults.IN_FLIGHT))
    # Replies have places of their own: a waiting beneficiary never queues behind bulk.
    replies: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(defaults.REPLIES_IN_FLIGHT)
    )
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # One recipient's messages go in the order their jobs came, whichever job carries them:
    # a job holds its recipient's turn for all of that recipient's messages in it.
    recipients: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def recipient_turn(self, channel: str, address: str) -> asyncio.Lock:
        """The FIFO lock of one recipient (asyncio.Lock wakes its waiters in order)."""
        key = (channel, address)
        lock = self.recipients.get(key)
        if lock is None:
            lock = self.recipients[key] = asyncio.Lock()
        return lock


_by_context: dict[int, InFlight] = {}


def in_flight(context: WorkerContext) -> InFlight:
    """The process's bookkeeping for this context (one context per worker process)."""
    loop = asyncio.get_running_loop()
    found = _by_context.get(id(context))
    if found is None or found.loop is not loop:  # a new loop (tests) gets its own
        # Under a rate limit more batches out would only wait for their slots (and ask
        # Redis for them again and again): two keep the budget busy.
        limited = parse_limits(context.settings.rate_limits) is not None
        batches = defaults.LIMITED_BATCHES_IN_FLIGHT if limited else defaults.BATCHES_IN_FLIGHT
        found = _by_context[id(context)] = InFlight(loop, asyncio.Semaphore(batches))
    return found


def start_task(context: WorkerContext, work: Coroutine[Any, Any, Any], what: str) -> None:
    """Run `work` on the process's loop past the job that started it."""
    tasks = in_flight(context).tasks
    task = asyncio.get_running_loop().create_task(work)
    tasks.add(task)

    def done(finished: asyncio.Task[Any]) -> None:
        tasks.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("%s failed", what, exc_info=finished.exception())

    task.add_done_callback(done)


async def settle(context: WorkerContext) -> None:
    """Wait until every send this process started has its outcome recorded."""
    tasks = in_flight(context).tasks
    while tasks:
        await asyncio.gather(*list(tasks), return_exceptions=True)


async def take_batch_slot(
    context: WorkerContext,
    give_way: Callable[[], Awaitable[bool]],
    deadline: float,
    *,
    first: bool = False,
) -> bool:
    """A slot for one more batch; False when the job should end first (`give_way()` says
    a reply is waiting, or the job's time slice is over). A job's `first` batch takes a free
    slot without asking, so bulk work always moves on."""
    slots = in_flight(context).batches
    if first and not slots.locked():
        await slots.acquire()
        return True
    loop = asyncio.get_running_loop()
    while True:
        if loop.time() >= deadline or await give_way():
            return False
        try:
            async with asyncio.timeout(GIVE_WAY_CHECK_SECONDS):
                await slots.acquire()
            return True
        except TimeoutError:
            continue


GIVE_WAY_CHECK_SECONDS = 0.05
