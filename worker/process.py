"""The worker process's context: one event loop, one database engine, one HTTP session per
channel, opened at the first job and kept for every job after it (so no session per send).

The loop runs on a thread of its own for the life of the process, not only while a job runs:
the sends a job started go on while rq fetches and runs the next job (worker/inflight.py), so
one worker keeps many batches in flight instead of waiting for each one's slowest answer.

The application says how to open it (`use_opener`) before the worker starts taking jobs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.event_loop import new_event_loop
from worker.context import Opener, WorkerContext
from worker.inflight import settle

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_context: WorkerContext | None = None
_opener: Opener | None = None


def use_opener(opener: Opener) -> None:
    """How this process opens its context at the first job (set by the application)."""
    global _opener
    _opener = opener


def _running_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    if _loop is None:
        loop = new_event_loop()
        _thread = threading.Thread(target=loop.run_forever, name="worker-loop", daemon=True)
        _thread.start()
        _loop = loop
    return _loop


def _wait(loop: asyncio.AbstractEventLoop, work: Awaitable[T]) -> T:
    async def body() -> T:
        return await work

    return asyncio.run_coroutine_threadsafe(body(), loop).result()


def run(job: Callable[[WorkerContext], Awaitable[T]]) -> T:
    """Run an async job body with the process's context, on the process's loop."""
    global _context
    loop = _running_loop()
    if _context is None:
        if _opener is None:
            raise RuntimeError("no worker context: the application must call use_opener first")
        _context = _wait(loop, _opener())
    context = _context
    return _wait(loop, job(context))


def close() -> None:
    """At worker shutdown: let the sends in flight finish, then close the context."""
    global _loop, _thread, _context
    if _loop is not None and _context is not None:
        context = _context
        _wait(_loop, settle(context))
        _wait(_loop, context.close())
    if _loop is not None:
        _loop.call_soon_threadsafe(_loop.stop)
        if _thread is not None:
            _thread.join(timeout=30)
        _loop.close()
    _loop, _thread, _context = None, None, None
