"""RQ jobs: plain importable functions taking ids, run on the worker's long-lived loop."""

from __future__ import annotations

from rq import get_current_job

from worker import process
from worker.delivery import deliver as deliver_async


def deliver(message_id: int) -> str:
    """Deliver one stored outbound message (enqueued by the router)."""
    job = get_current_job()
    last_attempt = job is None or not job.retries_left
    return process.run(
        lambda runtime: deliver_async(runtime, message_id, last_attempt=last_attempt)
    )
