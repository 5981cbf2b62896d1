"""RQ jobs: plain importable functions taking ids, run on the worker's long-lived loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from rq import Queue, get_current_job
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.models import utcnow
from worker import broadcast, defaults, process, queues
from worker.broadcast_service import queue_batch, schedule_watch
from worker.delivery import start_delivery
from worker.handoff import remind_unanswered
from worker.media import fetch_media as fetch_media_async
from worker.sla import schedule_sla_watch, watch
from worker.staff_notify import send_digests
from worker.surveys import send_due_surveys
from worker.sweep import handle_unhandled, requeue_stranded, schedule_sweep


class _JobQueues:
    """The queue operations a running job needs, off the event loop (rq's client blocks)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def next_batch(self, broadcast_id: int) -> None:
        await asyncio.to_thread(queue_batch, self.queue, broadcast_id)

    async def retry_later(self, message_ids: list[int], delay: int, *, bulk: bool = False) -> None:
        await asyncio.to_thread(
            queues.enqueue_deliveries, self.queue, message_ids, delay=delay, bulk=bulk
        )


def deliver(*message_ids: int) -> str:
    """Start delivering a batch of stored replies, concurrently (queued by the outbox
    drain); the sends go on while the worker takes its next job (worker/inflight.py)."""
    return _deliver(list(message_ids), bulk=False)


def deliver_bulk(*message_ids: int) -> str:
    """Start delivering a batch of broadcast messages (consent and stop checked again
    first)."""
    return _deliver(list(message_ids), bulk=True)


def _deliver(message_ids: list[int], *, bulk: bool) -> str:
    job_queues = _JobQueues(replies_queue_for(get_current_job()))
    return process.run(
        lambda context: start_delivery(
            context, message_ids, bulk=bulk, retry_later=job_queues.retry_later
        )
    )


def broadcast_batch(broadcast_id: int) -> str:
    """The next batch of a broadcast (worker/broadcast.py)."""
    job_queues = _JobQueues(replies_queue_for(get_current_job()))
    return process.run(lambda context: broadcast.run_batch(context, broadcast_id, job_queues))


def broadcast_start(broadcast_id: int) -> str:
    """A scheduled broadcast's time came."""
    job_queues = _JobQueues(replies_queue_for(get_current_job()))
    return process.run(lambda context: broadcast.start(context, broadcast_id, job_queues))


def broadcast_watch() -> int:
    """Resume and close running broadcasts, then schedule the next watch."""
    queue = replies_queue_for(get_current_job())
    try:
        return process.run(lambda context: broadcast.watch(context, _JobQueues(queue)))
    finally:
        schedule_watch(queue)


def fetch_media(message_id: int) -> str:
    """Fetch the attachments of a recorded inbound message (queued by the web process)."""
    job = get_current_job()
    last_attempt = job is None or not job.retries_left
    return process.run(
        lambda context: fetch_media_async(context, message_id, last_attempt=last_attempt)
    )


def drain_outbox() -> int:
    """Turn the replies the web processes queued into delivery jobs (see worker/queues.py)."""
    return len(queues.drain_outbox(make_queue_for(get_current_job())))


def sweep(stranded_after: float | None = None, reschedule: bool = True) -> int:
    """Queue stranded replies again, hand unhandled inbound messages to the router and send
    the satisfaction surveys that are due, then schedule the next sweep (at once when a
    batch was full: there is more)."""
    job = get_current_job()
    queue = make_queue_for(job)
    older_than = timedelta(
        seconds=defaults.STRANDED_AFTER_SECONDS if stranded_after is None else stranded_after
    )
    more = False
    try:
        # Replies waiting in the outbox whose drain job was lost: a worker SIGKILLed while
        # it waited for a job leaves its blocking pop open in rq's scheduler (a fork that
        # keeps the socket), and Redis hands that dead pop the next job, a drain among them.
        queues.drain_outbox(queue)
        requeued = process.run(lambda context: requeue_stranded(context, queue, older_than))
        found, handled = process.run(handle_unhandled)
        process.run(lambda context: send_due_surveys(context, queue))
        # A full batch means more are waiting; one of messages all in hand elsewhere does not.
        more = len(requeued) >= defaults.SWEEP_BATCH or (
            found >= defaults.UNHANDLED_BATCH and handled > 0
        )
        return len(requeued) + handled
    finally:
        if reschedule:
            schedule_sweep(queue, delay_seconds=1 if more else defaults.SWEEP_INTERVAL_SECONDS)
            # The broadcast watch reschedules itself; should Redis have lost it, it starts again.
            if not Job.exists(
                defaults.broadcast_watch_job_id(queue.name), connection=queue.connection
            ):
                schedule_watch(queue)
            if not Job.exists(defaults.sla_watch_job_id(queue.name), connection=queue.connection):
                schedule_sla_watch(queue)


def sla_watch(reschedule: bool = True) -> str:
    """Remind, escalate, tell late beneficiaries, announce new work, send staff digests
    (worker/sla.py, worker/staff_notify.py); then schedule the next watch."""
    queue = replies_queue_for(get_current_job())
    try:
        counts = process.run(lambda context: watch(context, queue, utcnow()))
        counts["notified"] = process.run(lambda context: send_digests(context, utcnow()))
        return ", ".join(f"{name}: {n}" for name, n in counts.items())
    finally:
        if reschedule:
            schedule_sla_watch(queue)


def remind_unanswered_handoff(conversation_id: int, opened_at: str, text: str) -> str:
    """Tell a beneficiary whose hand-off nobody answered in time what happens next (scheduled
    by the web process when the hand-off opened; worker/handoff.py)."""
    queue = make_queue_for(get_current_job())
    return process.run(
        lambda context: remind_unanswered(context, queue, conversation_id, opened_at, text)
    )


def make_queue_for(job: Job | None) -> Queue:
    """The queue the running job came from (the worker's own), with the JSON serializer."""
    if job is None or job.origin is None:
        raise RuntimeError("this must run as a queued job")
    return Queue(job.origin, connection=job.connection, serializer=JSONSerializer)


def replies_queue_for(job: Job | None) -> Queue:
    """The deployment's replies queue, whichever of its two queues the job came from."""
    queue = make_queue_for(job)
    suffix = "-bulk"
    if queue.name.endswith(suffix):
        return Queue(
            queue.name[: -len(suffix)], connection=queue.connection, serializer=JSONSerializer
        )
    return queue
