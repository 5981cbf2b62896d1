"""The database's threads, with a lane for work someone is waiting on.

SQLite has one database thread, and a broadcast keeps it busy: batches of a hundred
messages loaded, claimed and recorded, one transaction after the other. A reply to a
beneficiary who is waiting must not queue behind them (issue 14: a reply reaches the
provider within 2 s while a broadcast runs), so work started under `urgent()` goes to the
front of the queue; the transaction running at that moment still finishes first. Among
equals, first come, first served.
"""

from __future__ import annotations

import collections
import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("tawasul_db_urgent", default=False)


@contextmanager
def urgent() -> Iterator[None]:
    """Database work started inside (and in tasks created inside) goes ahead of the rest."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


IDLE_CHECK_SECONDS = 1.0
_Work = tuple[Callable[[], Any], Future[Any]]


class DatabaseThreads:
    """A fixed pool of threads taking work from two lines, the urgent one first.

    Each piece of work puts one token in a C-level queue the threads block on (cheap, and
    idle while waiting), and a woken thread takes from the urgent line if anything waits
    there: tokens and work are as many, so a token always finds work."""

    def __init__(self, threads: int, name: str = "db") -> None:
        self._urgent: collections.deque[_Work] = collections.deque()
        self._ordinary: collections.deque[_Work] = collections.deque()
        self._tokens: queue.SimpleQueue[bool] = queue.SimpleQueue()  # False: stop
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name}_{i}") for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Callable[[], Any]) -> Future[Any]:
        """Queue `work`, ahead of the ordinary work when the caller is urgent."""
        future: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the database threads are shut down")
            (self._urgent if _URGENT.get() else self._ordinary).append((work, future))
            self._tokens.put(True)
        return future

    def shutdown(self) -> None:
        """Finish what is queued, then stop the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._tokens.put(False)  # after every piece of work's token
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        # Not daemon threads: a process that ends without shutdown() still finishes the
        # work it queued (a write), then these threads end once the main thread has.
        while True:
            try:
                token = self._tokens.get(timeout=IDLE_CHECK_SECONDS)
            except queue.Empty:
                if not threading.main_thread().is_alive():
                    return
                continue
            if not token:
                return
            try:
                work, future = self._urgent.popleft()
            except IndexError:
                work, future = self._ordinary.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = work()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
