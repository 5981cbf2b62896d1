"""A `tawasul` process killed outright takes what it started with it: the other web processes
of `serve --processes N`, the worker serve started alongside, rq's scheduler forked by the
worker. Nothing is left serving (or scheduling) on its own, orphaned, after its parent."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests import spawned
from tests.conftest import REDIS_URL
from tests.processes import Gateway, gateway

WAIT = 60  # seconds: a loaded machine


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Gateway]:
    # TAWASUL_WEB_PROCESSES in the environment, as in a container: the web processes serve
    # starts read it too, and must not start more in turn.
    with gateway(tmp_path, REDIS_URL, {"TAWASUL_WEB_PROCESSES": "2"}) as running:
        yield running


def wait_for_members(head: int, count: int) -> list[int]:
    """The processes of `head`'s group, once there are `count` of them."""
    deadline = time.monotonic() + WAIT
    while len(found := spawned.members([head])) < count:
        assert time.monotonic() < deadline, f"only {found} of {count} processes started"
        time.sleep(0.1)
    return found


def test_a_killed_serve_leaves_no_web_process_worker_or_scheduler_behind(live: Gateway) -> None:
    live.start_serve(processes=2, worker=True)
    assert live.serve is not None
    head = live.serve.pid
    # serve, its second web process, the worker and the worker's scheduler
    wait_for_members(head, 4)
    deadline = time.monotonic() + WAIT
    while len(re.findall(r"serving on \S+ with (\d) web", live.log("serve"))) < 2:
        assert time.monotonic() < deadline, live.log("serve")[-3000:]
        time.sleep(0.1)
    assert sorted(re.findall(r"serving on \S+ with (\d) web", live.log("serve"))) == ["1", "2"]

    live.serve.send_signal(signal.SIGKILL)  # the parent only, with no time to stop anything
    live.serve.wait(timeout=10)
    assert spawned.wait_until_gone([head], WAIT), spawned.members([head])


def test_a_killed_worker_takes_its_scheduler_and_frees_the_scheduling_for_the_next(
    live: Gateway,
) -> None:
    live.start_worker()
    assert live.worker is not None
    head = live.worker.pid
    wait_for_members(head, 2)  # the worker and rq's scheduler
    queue = live.env["TAWASUL_QUEUE"]
    client = redis.Redis.from_url(REDIS_URL)
    locks = f"rq:scheduler-lock:{queue}*"
    deadline = time.monotonic() + WAIT
    while not list(client.scan_iter(match=locks)):
        assert time.monotonic() < deadline, live.log("worker")[-3000:]
        time.sleep(0.1)

    live.worker.send_signal(signal.SIGKILL)
    live.worker.wait(timeout=10)
    assert spawned.wait_until_gone([head], WAIT), spawned.members([head])
    # The scheduler stopped as rq stops it: its locks given back, so the next worker
    # schedules at once instead of after they expire.
    assert list(client.scan_iter(match=locks)) == []
