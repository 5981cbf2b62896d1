"""RQ jobs: plain importable functions taking ids, run on the worker's long-lived loop."""

from __future__ import annotations

from datetime import timedelta

from rq import Queue, get_current_job
from rq.job import Job
from rq.serializers import JSONSerializer

from worker import defaults, process, queues
from worker.delivery import deliver as deliver_async
from worker.handoff import remind_unanswered
from worker.media import fetch_media as fetch_media_async
from worker.sweep import handle_unhandled, requeue_stranded, schedule_sweep


def deliver(message_id: int) -> str:
    """Deliver one stored outbound message (enqueued by the router)."""
    job = get_current_job()
    last_attempt = job is None or not job.retries_left
    return process.run(
        lambda context: deliver_async(context, message_id, last_attempt=last_attempt)
    )


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
    """Queue stranded replies again and hand unhandled inbound messages to the router, then
    schedule the next sweep (at once when a batch was full: there is more)."""
    job = get_current_job()
    queue = make_queue_for(job)
    older_than = timedelta(
        seconds=defaults.STRANDED_AFTER_SECONDS if stranded_after is None else stranded_after
    )
    more = False
    try:
        requeued = process.run(lambda context: requeue_stranded(context, queue, older_than))
        found, handled = process.run(handle_unhandled)
        # A full batch means more are waiting; one of messages all in hand elsewhere does not.
        more = len(requeued) >= defaults.SWEEP_BATCH or (
            found >= defaults.UNHANDLED_BATCH and handled > 0
        )
        return len(requeued) + handled
    finally:
        if reschedule:
            schedule_sweep(queue, delay_seconds=1 if more else defaults.SWEEP_INTERVAL_SECONDS)


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
