"""Redis commands of concurrent turns sent together: one pipeline, one round trip.

Each command on redis-py's async client costs about 0.1 ms of CPU on its own and about a
third of that inside a pipeline, and every message needs several (dedupe, lock, release,
enqueue). Callers queue their commands on a shared pipeline through a function and get back
their own results; the commands of all callers waiting at that moment run as one MULTI/EXEC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript

from bot.batching import Batcher

QueueCommands = Callable[[Pipeline], object]


class RedisBatch:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._batcher: Batcher[QueueCommands, list[Any]] = Batcher(self._run)

    async def run(self, queue_commands: QueueCommands) -> list[Any]:
        """Run the commands `queue_commands` puts on the pipeline; returns their replies.

        Raises the first error among this caller's replies, like a pipeline of its own would.
        """
        return await self._batcher(queue_commands)

    def register_script(self, source: str) -> AsyncScript:
        return self.redis.register_script(source)

    @staticmethod
    def call_script(
        pipe: Pipeline, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
    ) -> None:
        """Queue a Lua script; the pipeline loads it first if the server does not know it."""
        pipe.scripts.add(script)  # type: ignore[arg-type]  # redis-py loads either kind
        pipe.evalsha(script.sha, len(keys), *keys, *args)

    async def _run(self, callers: list[QueueCommands]) -> list[list[Any] | BaseException]:
        spans: list[tuple[int, int]] = []
        async with self.redis.pipeline(transaction=True) as pipe:
            refused: dict[int, Exception] = {}
            for number, queue_commands in enumerate(callers):
                start = len(pipe.command_stack)
                try:
                    queue_commands(pipe)
                except Exception as exc:  # that caller's mistake alone
                    del pipe.command_stack[start:]
                    refused[number] = exc
                spans.append((start, len(pipe.command_stack)))
            replies = await pipe.execute(raise_on_error=False) if pipe.command_stack else []
        results: list[list[Any] | BaseException] = []
        for number, (start, end) in enumerate(spans):
            if number in refused:
                results.append(refused[number])
                continue
            own = replies[start:end]
            error = next((reply for reply in own if isinstance(reply, BaseException)), None)
            results.append(error if error is not None else own)
        return results
