"""`tawasul worker --check`: whether a worker of this host is alive, for a container's
healthcheck. rq keeps one key per worker in Redis and extends it on every heartbeat; a worker
that stopped beating (hung, killed, cut off from Redis) loses its key within its TTL, and rq's
own listing leaves it out. So the check is one short read of Redis, and asks nothing of the
worker itself.
"""

from __future__ import annotations

import socket

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.serializers import JSONSerializer


def worker_alive(redis_url: str, queue_name: str, hostname: str | None = None) -> str | None:
    """None when a worker of `hostname` (this host by default) listens on the queue; else the
    reason, in a sentence for the healthcheck's log."""
    host = hostname or socket.gethostname()
    try:
        connection = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        try:
            queue = Queue(queue_name, connection=connection, serializer=JSONSerializer)
            workers = Worker.all(connection=connection, queue=queue)
        finally:
            connection.close()
    except (RedisError, OSError) as exc:
        return f"Redis does not answer: {exc}"
    if any(worker.hostname == host for worker in workers):
        return None
    return f"no live worker of host {host} on queue {queue_name!r}"
