"""Worker defaults in one place (rq's own layout)."""

import os


def _seconds(name: str, default: float) -> float:
    """A timing an operator (or a test) may shorten through the environment."""
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


QUEUE_NAME = "tawasul"
# Backoff between delivery attempts, in seconds; the last failure leaves the message "failed".
DELIVERY_RETRY_INTERVALS = [5, 30, 120, 600, 1800]
JOB_TIMEOUT_SECONDS = 60
RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600

# Replies stored as queued whose job is gone (Redis was down when they were queued) are found
# and queued again by a sweep that runs every SWEEP_INTERVAL_SECONDS.


def sweep_job_id(queue_name: str) -> str:
    return f"{queue_name}-sweep-outbox"


SWEEP_INTERVAL_SECONDS = _seconds("TAWASUL_SWEEP_SECONDS", 30)
STRANDED_AFTER_SECONDS = 60
# Replies the sweep queues again at a time; a full batch runs the next sweep at once.
SWEEP_BATCH = 2000
# When Redis has come back empty, a sweep runs at once and takes every queued reply without a
# job (and not waiting in the outbox list) as lost, however young.
RECONNECT_STRANDED_AFTER_SECONDS = 0

# Inbound messages recorded but never handled (their process died mid-turn, and no retry of
# the provider got through) are handed to the router again by the sweep once older than
# UNHANDLED_AFTER_SECONDS (one still being handled has a live claim, and is left alone), and
# not when older than UNHANDLED_MAX_AGE_SECONDS (an answer then would make no
# sense to the beneficiary; staff still see the message).
UNHANDLED_AFTER_SECONDS = 10
UNHANDLED_MAX_AGE_SECONDS = 24 * 3600
UNHANDLED_BATCH = 200

# The worker's reconnection to Redis after it dropped: waits double from the first to the last.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 10.0


def delivery_job_id(queue_name: str, message_id: int) -> str:
    """One job id per message, so a sweep can tell whether its job still exists. Job ids are
    global in Redis, so the queue name (one per deployment) is part of it."""
    return f"{queue_name}-deliver-{message_id}"


# Replies wait in a Redis list (one per queue) until the worker's drain job turns them into
# delivery jobs; the flag says a drain job is already on its way, and lapses on its own.
def outbox_key(queue_name: str) -> str:
    return f"tawasul:outbox:{queue_name}"


DRAIN_FLAG_SECONDS = 300
DRAIN_BATCH = 500


def worker_mark_key(queue_name: str) -> str:
    """A key the workers leave in Redis: when it is gone, so is everything else Redis held."""
    return f"tawasul:worker-mark:{queue_name}"


# -- many sends in flight, replies first (issue 14) ------------------------------------------
def bulk_queue_name(queue_name: str) -> str:
    """Broadcast work waits in its own queue; the worker takes replies (`queue_name`) first."""
    return f"{queue_name}-bulk"


DELIVERY_BATCH = 100  # message ids per delivery job
IN_FLIGHT = 400  # bulk sends awaiting their provider at once, per worker process (all jobs)
REPLIES_IN_FLIGHT = 100  # and replies, on places of their own (never behind bulk)
BROADCAST_BATCH = 100  # recipients turned into messages (and sent) per batch
# Batches of one worker process claimed and not yet settled: the database work of one
# overlaps the sends of the others (worker/inflight.py).
BATCHES_IN_FLIGHT = 5
LIMITED_BATCHES_IN_FLIGHT = 2  # when rate limits are on (a batch is then half a second's)
# A broadcast job claims batches for at most this long, and ends sooner when a reply waits;
# its successor, already queued, goes on.
BROADCAST_SLICE_SECONDS = 1.0
BROADCAST_JOB_TIMEOUT_SECONDS = 600
# A send still "sending" after this long was cut off by a crash (a send's HTTP request times
# out well before: keep it above the channels' timeouts): it becomes "unknown", never sent
# again, until a status report settles it. Broadcast messages a crash left queued are sent
# again after as long.
IN_DOUBT_AFTER_SECONDS = _seconds("TAWASUL_IN_DOUBT_SECONDS", 30)
BROADCAST_WATCH_SECONDS = 5  # how often running broadcasts are checked (resumed, finished)


def queued_marker_key(queue_name: str, message_id: int) -> str:
    """Present while a job carrying the message exists, so the sweep leaves it alone."""
    return f"tawasul:pending:{queue_name}:{message_id}"


def broadcast_watch_job_id(queue_name: str) -> str:
    return f"{queue_name}-broadcast-watch"


# -- SLA watch and staff notifications (issue 15) ---------------------------------------------
SLA_WATCH_SECONDS = _seconds("TAWASUL_SLA_WATCH_SECONDS", 20)


def sla_watch_job_id(queue_name: str) -> str:
    return f"{queue_name}-sla-watch"
