"""Worker defaults in one place (rq's own layout)."""

QUEUE_NAME = "tawasul"
# Backoff between delivery attempts, in seconds; the last failure leaves the message "failed".
DELIVERY_RETRY_INTERVALS = [5, 30, 120, 600, 1800]
JOB_TIMEOUT_SECONDS = 60
RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600
