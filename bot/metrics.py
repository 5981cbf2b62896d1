"""Prometheus metrics served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("tawasul_messages_in_total", "Inbound messages recorded", ["channel"])
MESSAGES_OUT = Counter("tawasul_messages_out_total", "Outbound messages queued", ["channel"])
DUPLICATES = Counter("tawasul_duplicates_total", "Inbound provider retries ignored", ["channel"])
STATUS_UPDATES = Counter(
    "tawasul_status_updates_total", "Delivery reports received", ["channel", "status"]
)
WEBHOOK_REJECTED = Counter(
    "tawasul_webhook_rejected_total", "Webhooks answered with 4xx", ["channel", "reason"]
)
HANDLER_SECONDS = Histogram(
    "tawasul_handler_seconds",
    "Inbound path latency: message in to replies queued",
    ["channel"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
QUEUE_DEPTH = Gauge("tawasul_queue_depth", "Jobs and replies waiting for the worker", ["queue"])
