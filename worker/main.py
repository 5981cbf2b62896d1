"""`tawasul worker`: an RQ worker with the scheduler (retries with backoff, scheduled jobs).

Redis may go away under it (restarted, failed over, a network cut). rq's own loop waits for
Redis while it is waiting for a job, but gives up on errors anywhere else, so the worker is
started again here with a growing wait until Redis answers. Redis may also have come back
empty, every queued job and outbox entry gone, the scheduled sweep with them: each worker
checks on its heartbeat that Redis still holds the mark it left there, and when it does not,
schedules the sweep again and runs one at once, so stored replies that lost their job are
queued again within seconds of Redis returning.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import suppress
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from bot.settings import Settings
from worker import defaults, process
from worker.broadcast_service import schedule_watch
from worker.queues import bulk_queue, make_queue
from worker.sla import schedule_sla_watch
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
    try:
        while True:
            try:
                queue = make_queue(redis_url, settings.queue_name)
                connection = Redis.from_url(redis_url)
                _forget_in_forks(queue.connection, connection)
                # Replies first: rq takes the next job from the first queue that has one.
                worker = Worker(
                    [queue, bulk_queue(queue)], connection=connection, serializer=JSONSerializer
                )
                worker.mind_redis(queue)
                # Resume the broadcasts a stopped (or killed) worker left running.
                schedule_watch(queue, delay_seconds=1)
                schedule_sla_watch(queue, delay_seconds=1)  # deadlines, staff notifications
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
    finally:
        process.close()


class Worker(SimpleWorker):
    """rq's SimpleWorker that notices, on its heartbeat, a Redis that came back empty."""

    _queue: Queue | None = None

    def mind_redis(self, queue: Queue) -> None:
        self._queue = queue
        self._check_redis()

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> Any:
        """rq beats before each wait for a job, also right after Redis answers again; the
        check is one SET NX, so it is made on every beat."""
        result = super().heartbeat(timeout, pipeline)
        if pipeline is None:
            self._check_redis()
        return result

    def _check_redis(self) -> None:
        """Leave a mark in Redis; when it is gone (first start, or Redis lost everything),
        make sure the sweep is scheduled and sweep at once. The mark is left last, so a
        failure half-way is tried again on the next beat."""
        queue = self._queue
        if queue is None:
            return
        mark = defaults.worker_mark_key(queue.name)
        try:
            if queue.connection.exists(mark):
                return
            if not Job.exists(defaults.sweep_job_id(queue.name), connection=queue.connection):
                schedule_sweep(queue)
            sweep_now(queue, stranded_after=defaults.RECONNECT_STRANDED_AFTER_SECONDS)
            queue.connection.set(mark, "1")
            log.warning("Redis held no mark of ours (first start, or it came back empty): sweeping")
        except REDIS_ERRORS as exc:
            log.warning("could not check Redis: %s", exc)


_clients: list[Redis] = []


def _forget_in_forks(*clients: Redis) -> None:
    """rq forks its scheduler, and the fork keeps a copy of every socket: once this worker
    is killed while it waits for a job, Redis would still see its blocking pop open and hand
    it the next job, lost. The fork closes its copies of the worker's sockets at once."""
    if not _clients:
        os.register_at_fork(after_in_child=_close_inherited)
    _clients[:] = list(clients)


def _close_inherited() -> None:
    for client in _clients:
        pool: Any = client.connection_pool
        held = [
            *getattr(pool, "_available_connections", []),
            *getattr(pool, "_in_use_connections", []),
        ]
        for connection in held:
            sock = getattr(connection, "_sock", None)
            if sock is not None:
                try:
                    sock.close()  # this process's copy only; the parent's stays open
                except OSError:
                    pass
                connection._sock = None
        with suppress(Exception):
            pool.reset()


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
