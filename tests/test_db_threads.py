"""The database threads (bot/db_threads.py): a reply's work goes ahead of a broadcast's
queued work, and nothing queued is dropped, even by a process that exits without closing."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bot.db import Database
from bot.db_threads import DatabaseThreads, urgent
from tests.conftest import ROOT


def test_urgent_work_goes_ahead_of_what_is_queued() -> None:
    threads = DatabaseThreads(1)  # SQLite's one thread
    order: list[str] = []
    busy, release = threading.Event(), threading.Event()

    def blocker() -> None:
        busy.set()
        release.wait(30)

    try:
        running = threads.submit(blocker)
        assert busy.wait(30)  # the thread is taken: what follows waits in line
        bulk = [threads.submit(lambda i=i: order.append(f"bulk {i}")) for i in range(5)]
        with urgent():
            reply = threads.submit(lambda: order.append("reply"))
        later = threads.submit(lambda: order.append("bulk 5"))
        release.set()
        for future in [running, *bulk, reply, later]:
            future.result(timeout=30)
        assert order == ["reply"] + [f"bulk {i}" for i in range(6)]
    finally:
        release.set()
        threads.shutdown()


async def test_a_failure_reaches_its_caller_and_the_threads_go_on(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fail.db'}")
    try:

        def broken() -> None:
            raise ValueError("bad row")

        with pytest.raises(ValueError, match="bad row"):
            await db.run(broken)
        assert await db.run(sum, [1, 2, 3]) == 6
    finally:
        db.close()


def test_shutdown_finishes_what_was_queued_then_refuses_more() -> None:
    threads = DatabaseThreads(2)
    done: list[int] = []
    futures = [threads.submit(lambda i=i: done.append(i)) for i in range(50)]
    threads.shutdown()
    assert sorted(done) == list(range(50)) and all(f.done() for f in futures)
    with pytest.raises(RuntimeError):
        threads.submit(lambda: None)


def test_a_process_that_exits_without_closing_still_writes_what_it_queued(
    tmp_path: Path,
) -> None:
    target = tmp_path / "written.txt"
    script = f"""
import time
from bot.db_threads import DatabaseThreads
threads = DatabaseThreads(1)
threads.submit(lambda: time.sleep(0.3))
threads.submit(lambda: open({str(target)!r}, "w").write("kept"))
"""  # the main thread ends at once, with the write still queued
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "kept"
