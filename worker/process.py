"""The worker process's runtime: one event loop, one database engine, one HTTP session per
channel, opened at the first job and kept for every job after it (so no session per send)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.runtime import Runtime, open_runtime
from bot.settings import load_settings

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_runtime: Runtime | None = None


def run(job: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run an async job body with the process's runtime."""
    global _loop, _runtime
    if _loop is None:
        _loop = asyncio.new_event_loop()
    if _runtime is None:
        _runtime = _loop.run_until_complete(open_runtime(load_settings(), embedded_redis=False))
    return _loop.run_until_complete(job(_runtime))


def close() -> None:
    """Close the runtime at worker shutdown."""
    global _loop, _runtime
    if _loop is not None and _runtime is not None:
        _loop.run_until_complete(_runtime.close())
    if _loop is not None:
        _loop.close()
    _loop, _runtime = None, None
