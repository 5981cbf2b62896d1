"""`tawasul worker`: an RQ worker with the scheduler (retries with backoff, scheduled jobs)."""

from __future__ import annotations

import logging

from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.settings import Settings
from worker import defaults, process
from worker.broadcast_service import schedule_watch
from worker.queues import bulk_queue, make_queue
from worker.sweep import schedule_sweep

log = logging.getLogger(__name__)


def run_worker(settings: Settings, redis_url: str, *, burst: bool = False) -> bool:
    """Work the queue until stopped (or until empty with `burst`).

    SimpleWorker runs jobs in this process instead of forking one per job, so the database
    engine and HTTP sessions opened by the first job serve all the others.
    """
    queue = make_queue(redis_url, settings.queue_name)
    # Replies first: rq takes the next job from the first queue that has one.
    worker = SimpleWorker(
        [queue, bulk_queue(queue)], connection=Redis.from_url(redis_url), serializer=JSONSerializer
    )
    if not Job.exists(defaults.sweep_job_id(queue.name), connection=queue.connection):
        schedule_sweep(queue, delay_seconds=5)
    # Resume the broadcasts a stopped (or killed) worker left running.
    schedule_watch(queue, delay_seconds=1)
    log.info("worker listening on queue %r", settings.queue_name)
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="WARNING"))
    finally:
        process.close()
