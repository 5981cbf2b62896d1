"""Redis work of concurrent turns sent together: one script call for all of it.

Each command on redis-py's async client costs about 0.1 ms of CPU on its own, and a third of
that inside a pipeline, since each reply is parsed with a timeout of its own; every message
needs several (claim and lock, release, outbox push). Each of those is a Lua step, and the
steps of every turn waiting at a moment, whichever step each is at, go to Redis as one call
of one script that runs them in call order and returns one reply for all of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from bot.batching import Batcher

Step = Callable[[str | tuple[str, ...], Any], Awaitable[Any]]

# One caller's step: its index among the steps, its keys, its argument.
_Call = tuple[int, tuple[str, ...], Any]


class ScriptBatch:
    """The Lua steps added to it, run for many callers by one script call per batch.

    A step's source is the body of a Lua function of `KEYS` (this caller's keys only) and
    `ARG` (its one argument) that returns one value, never nil.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._steps: list[tuple[str, int]] = []
        self._script: Any = None
        self._batcher: Batcher[_Call, Any] = Batcher(self._run)

    def add(self, source: str, keys_per_call: int = 1) -> Step:
        """The step as an awaitable: `await step(keys, argument)` is its value for them."""
        if (source, keys_per_call) in self._steps:
            index = self._steps.index((source, keys_per_call))
        else:
            self._steps.append((source, keys_per_call))
            index = len(self._steps) - 1
            self._script = None  # built again with this step

        async def step(keys: str | tuple[str, ...], argument: Any) -> Any:
            own = (keys,) if isinstance(keys, str) else keys
            if len(own) != keys_per_call:
                raise ValueError(f"expected {keys_per_call} keys, got {len(own)}")
            return await self._batcher((index, own, argument))

        return step

    async def _run(self, calls: list[_Call]) -> list[Any]:
        if self._script is None:
            self._script = self._redis.register_script(self._source())
        keys = [key for _, own, _ in calls for key in own]
        arguments = [value for index, _, argument in calls for value in (index + 1, argument)]
        replies: list[Any] = await self._script(keys=keys, args=arguments)
        return replies

    def _source(self) -> str:
        steps = ",\n".join(f"function(KEYS, ARG)\n{source}\nend" for source, _ in self._steps)
        key_counts = ", ".join(str(count) for _, count in self._steps)
        # ARGV holds (step number, argument) per caller; KEYS their keys one after the other.
        return f"""
local steps = {{
{steps}
}}
local key_counts = {{{key_counts}}}
local replies, used = {{}}, 0
for i = 1, #ARGV, 2 do
    local step = tonumber(ARGV[i])
    local keys = {{}}
    for k = 1, key_counts[step] do keys[k] = KEYS[used + k] end
    used = used + key_counts[step]
    replies[#replies + 1] = steps[step](keys, ARGV[i + 1])
end
return replies
"""


_SHARED: weakref.WeakKeyDictionary[Redis, ScriptBatch] = weakref.WeakKeyDictionary()


def script_batch(redis: Redis) -> ScriptBatch:
    """The client's one ScriptBatch, so that every part of the inbound path that talks to
    Redis through it (contact locks, the outbox) shares its calls."""
    shared = _SHARED.get(redis)
    if shared is None:
        shared = _SHARED[redis] = ScriptBatch(redis)
    return shared
