"""Delivering replies in the same process, for `tawasul chat` where the terminal is the
recipient; it runs the very job body the worker runs."""

from __future__ import annotations

from worker.context import WorkerContext
from worker.delivery import deliver


class InlineOutbox:
    def __init__(self, context: WorkerContext) -> None:
        self.context = context

    async def enqueue(self, message_ids: list[int]) -> None:
        for message_id in message_ids:
            await deliver(self.context, message_id, last_attempt=True)
