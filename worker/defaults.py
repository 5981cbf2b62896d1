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


# -- many sends in flight, replies first (issue 14) ------------------------------------------
def bulk_queue_name(queue_name: str) -> str:
    """Broadcast work waits in its own queue; the worker takes replies (`queue_name`) first."""
    return f"{queue_name}-bulk"


DELIVERY_BATCH = 100  # message ids per delivery job
IN_FLIGHT = 100  # sends awaiting their provider at once, per worker process
BROADCAST_BATCH = 100  # recipients turned into messages (and sent) per broadcast job
BROADCAST_JOB_TIMEOUT_SECONDS = 600
# A claimed send still queued after this long was cut off by a crash (a send's HTTP request
# times out well before): it ends as "unknown", never sent again.
IN_DOUBT_AFTER_SECONDS = 30
BROADCAST_WATCH_SECONDS = 5  # how often running broadcasts are checked (resumed, finished)
CLAIM_TTL_SECONDS = 7 * 24 * 3600


def claim_key(queue_name: str, message_id: int, attempt: int) -> str:
    """Set (NX) right before attempt `attempt` of a message goes to its provider: the one
    who sets it sends; anyone else, a second job or a resumed broadcast, does not."""
    return f"tawasul:claim:{queue_name}:{message_id}:{attempt}"


def queued_marker_key(queue_name: str, message_id: int) -> str:
    """Present while a job carrying the message exists, so the sweep leaves it alone."""
    return f"tawasul:pending:{queue_name}:{message_id}"


def broadcast_watch_job_id(queue_name: str) -> str:
    return f"{queue_name}-broadcast-watch"
