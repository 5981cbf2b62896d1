"""The worker process's context: one event loop, one database engine, one HTTP session per
channel, opened at the first job and kept for every job after it (so no session per send).

The application says how to open it (`use_opener`) before the worker starts taking jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from worker.context import Opener, WorkerContext

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_context: WorkerContext | None = None
_opener: Opener | None = None


def use_opener(opener: Opener) -> None:
    """How this process opens its context at the first job (set by the application)."""
    global _opener
    _opener = opener


def run(job: Callable[[WorkerContext], Awaitable[T]]) -> T:
    """Run an async job body with the process's context."""
    global _loop, _context
    if _loop is None:
        _loop = asyncio.new_event_loop()
    if _context is None:
        if _opener is None:
            raise RuntimeError("no worker context: the application must call use_opener first")
        _context = _loop.run_until_complete(_opener())
    return _loop.run_until_complete(job(_context))


def close() -> None:
    """Close the context at worker shutdown."""
    global _loop, _context
    if _loop is not None and _context is not None:
        _loop.run_until_complete(_context.close())
    if _loop is not None:
        _loop.close()
    _loop, _context = None, None
