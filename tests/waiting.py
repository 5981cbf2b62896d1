"""Waiting for something a test expects to happen (a worker's send, a process's start): a
condition asked again and again until it holds or the time is up, never a fixed sleep, so a
slow machine only waits longer and a wrong result still fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T], what: str = "the condition", within: float = 30.0) -> T:
    """The first truthy answer of `probe`, asked every 0.1 s; fails naming `what` if none
    came within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        time.sleep(0.1)


async def eventually_async(
    probe: Callable[[], T], what: str = "the condition", within: float = 30.0
) -> T:
    """`eventually` on the event loop, which goes on serving meanwhile (an in-test web app
    answering the fakes' reports)."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g} s waiting for {what}")
        await asyncio.sleep(0.05)
