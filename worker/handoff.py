"""A hand-off nobody has answered in time: the beneficiary hears what happens next.

When a turn opens a hand-off, the web process schedules one job for the moment staff should
have answered (the profile's response time, from the next opening outside working hours;
handlers/handoff.py works it out and writes the message in the beneficiary's language). The
worker runs it with RQ's scheduler (`enqueue_at`; `tawasul worker` starts with it): if the
hand-off is still open, the beneficiary still waiting for staff and nothing was sent to them
since, the message is stored and delivered like any reply; otherwise the job does nothing.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from rq import Queue

from worker import defaults
from worker.context import WorkerContext
from worker.queues import enqueue_deliveries


def reminder_job_id(queue_name: str, conversation_id: int, opened_at: datetime) -> str:
    """One reminder per hand-off (job ids are global in Redis, so the queue is in it)."""
    return f"{queue_name}-handoff-{conversation_id}-{int(opened_at.timestamp())}"


class HandoffReminders:
    """The web process's side: schedule the reminder through RQ, off the event loop."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def remind(
        self, conversation_id: int, opened_at: datetime, at: datetime, text: str
    ) -> None:
        await asyncio.to_thread(self._schedule, conversation_id, opened_at, at, text)

    def _schedule(self, conversation_id: int, opened_at: datetime, at: datetime, text: str) -> None:
        self.queue.enqueue_at(
            at,
            "worker.jobs.remind_unanswered_handoff",
            args=(conversation_id, opened_at.isoformat(), text),
            job_id=reminder_job_id(self.queue.name, conversation_id, opened_at),
            result_ttl=defaults.RESULT_TTL_SECONDS,
            failure_ttl=defaults.FAILURE_TTL_SECONDS,
            description=f"tell conversation {conversation_id} what happens to its hand-off",
        )


async def remind_unanswered(
    context: WorkerContext, queue: Queue, conversation_id: int, opened_at: str, text: str
) -> str:
    """Send the reminder if the hand-off is still unanswered; says what it did."""
    message_id = await context.store.handoffs.remind_unanswered(
        conversation_id, datetime.fromisoformat(opened_at), text
    )
    if message_id is None:
        return "answered, closed or left meanwhile: nothing to say"
    await asyncio.to_thread(enqueue_deliveries, queue, [message_id])
    return f"reminder {message_id} queued"
