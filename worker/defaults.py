"""Worker defaults in one place (rq's own layout)."""

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


SWEEP_INTERVAL_SECONDS = 60
STRANDED_AFTER_SECONDS = 120


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
