"""`tawasul worker`: an RQ worker with the scheduler (retries with backoff, scheduled jobs).

Redis may go away under it (restarted, failed over, a network cut). rq's own loop gives up
on most such errors, so the worker is started again here with a growing wait until Redis
answers; since Redis may have come back empty (every queued job and outbox entry gone), the
first thing it does then is sweep at once for stored replies that lost their job.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.settings import Settings
from worker import defaults, process
from worker.queues import make_queue
from worker.sweep import schedule_sweep, sweep_now

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def run_worker(settings: Settings, redis_url: str, *, burst: bool = False) -> bool:
    """Work the queue until stopped (or until empty with `burst`), reconnecting to Redis
    with backoff whenever it drops.

    SimpleWorker runs jobs in this process instead of forking one per job, so the database
    engine and HTTP sessions opened by the first job serve all the others.
    """
    log.info("worker listening on queue %r", settings.queue_name)
    reconnected = False
    try:
        while True:
            try:
                queue = make_queue(redis_url, settings.queue_name)
                _prepare(queue, reconnected)
                worker = SimpleWorker(
                    [queue], connection=Redis.from_url(redis_url), serializer=JSONSerializer
                )
                worked = bool(
                    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
                )
                if burst or _stop_was_asked(worker):
                    return worked  # stopped on purpose (a signal, or the queue is empty)
                log.warning("worker stopped on its own (Redis dropped?); starting it again")
            except REDIS_ERRORS as exc:
                log.warning("worker lost Redis: %s", exc)
            time.sleep(defaults.RECONNECT_FIRST_SECONDS)  # never a busy loop
            _wait_for_redis(redis_url)
            reconnected = True
    finally:
        process.close()


def _prepare(queue: Queue, reconnected: bool) -> None:
    """The recurring sweep is scheduled if it is not (a Redis that came back empty lost it);
    after a reconnection a sweep also runs at once."""
    if not Job.exists(defaults.sweep_job_id(queue.name), connection=queue.connection):
        schedule_sweep(queue, delay_seconds=5)
    if reconnected:
        sweep_now(queue, stranded_after=defaults.RECONNECT_STRANDED_AFTER_SECONDS)
        log.warning("worker reconnected to Redis; sweeping for replies that lost their job")


def _stop_was_asked(worker: SimpleWorker) -> bool:
    """Whether rq's loop ended because of a signal (Ctrl-C, SIGTERM), not a lost Redis."""
    return bool(worker._stop_requested or getattr(worker, "_shutdown_requested_date", None))


def _redis_answers(redis_url: str) -> bool:
    try:
        client = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except REDIS_ERRORS:
        return False


def _wait_for_redis(redis_url: str) -> None:
    """Wait, doubling from RECONNECT_FIRST_SECONDS up to RECONNECT_MAX_SECONDS, until Redis
    answers again."""
    wait = defaults.RECONNECT_FIRST_SECONDS
    while not _redis_answers(redis_url):
        log.warning("Redis does not answer; trying again in %.1f s", wait)
        time.sleep(wait)
        wait = min(wait * 2, defaults.RECONNECT_MAX_SECONDS)
