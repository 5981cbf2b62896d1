"""Waiting for something a test expects to happen (a worker's send, a process's start): a
condition asked again and again until it holds or the time is up, never a fixed sleep, so a
slow machine only waits longer and a wrong result still fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Asking(Generic[T]):
    """One wait's deadline and its question: the answer if truthy, None to ask again."""

    def __init__(self, probe: Callable[[], T], what: str, within: float) -> None:
        self.probe, self.what, self.within = probe, what, within
        self.deadline = time.monotonic() + within

    def answer(self) -> T | None:
        found = self.probe()
        if found:
            return found
        if time.monotonic() > self.deadline:
            raise AssertionError(f"timed out after {self.within:g} s waiting for {self.what}")
        return None


def eventually(probe: Callable[[], T], what: str = "the condition", within: float = 30.0) -> T:
    """The first truthy answer of `probe`, asked every 0.1 s; fails naming `what` if none
    came within `within` seconds."""
    asking = _Asking(probe, what, within)
    while (found := asking.answer()) is None:
        time.sleep(0.1)
    return found


async def eventually_async(
    probe: Callable[[], T], what: str = "the condition", within: float = 30.0
) -> T:
    """`eventually` on the event loop, which goes on serving meanwhile (an in-test web app
    answering the fakes' reports)."""
    asking = _Asking(probe, what, within)
    while True:
        found = asking.answer()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
