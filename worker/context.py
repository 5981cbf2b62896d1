"""What a job needs from the process it runs in: the stores and the channels.

The application builds it (bot/app/runtime.py) and hands it over; the worker layer never
builds one itself, so it depends on nothing above it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from redis.asyncio import Redis

from bot.profile import Profile
from bot.settings import Settings
from bot.storage import Store
from channels.base import Channel


class WorkerContext(Protocol):
    """The pieces a job uses; `bot.app.runtime.Runtime` is one."""

    @property
    def store(self) -> Store: ...

    @property
    def channels(self) -> Mapping[str, Channel]: ...

    @property
    def redis(self) -> Redis: ...

    @property
    def profile(self) -> Profile: ...

    @property
    def settings(self) -> Settings: ...

    async def close(self) -> None: ...


Opener = Callable[[], Awaitable[WorkerContext]]
