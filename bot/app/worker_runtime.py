"""The worker process's context: the runtime, plus a router of its own, so that the inbound
sweep (worker/sweep.py) can handle a message whose web process died before it could.

The message goes the way a webhook's does (bot/app/webhooks.py `Intake`): routed, then its
attachments recorded and their fetch queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.app.router import Router
from bot.app.runtime import Runtime, live_faq, open_runtime, phone_route
from bot.app.webhooks import Intake
from bot.models import InboundMessage
from bot.profile import Profile
from bot.settings import Settings
from bot.storage import Store
from bot.storage.attachments import Attachments
from channels.base import Channel
from handlers.wiring import build_dispatcher
from worker.media import MediaFetches
from worker.queues import QueueOutbox, make_queue


@dataclass
class WorkerRuntime:
    runtime: Runtime
    intake: Intake

    @property
    def store(self) -> Store:
        return self.runtime.store

    @property
    def channels(self) -> Mapping[str, Channel]:
        return self.runtime.channels

    @property
    def redis(self) -> Redis:
        return self.runtime.redis

    @property
    def profile(self) -> Profile:
        return self.runtime.profile

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    async def handle_inbound(self, message: InboundMessage) -> bool:
        channel = self.runtime.channels.get(message.channel)
        if channel is None:
            outcome = await self.intake.router.handle(message)
        else:
            outcome = await self.intake.take(channel, message)
        return not outcome.duplicate

    async def close(self) -> None:
        await self.runtime.close()


async def open_worker_runtime(settings: Settings, redis_url: str) -> WorkerRuntime:
    runtime = await open_runtime(settings, embedded_redis=False, redis_url=redis_url)
    queue = make_queue(redis_url, settings.queue_name)
    router = Router(
        runtime.store,
        runtime.redis,
        QueueOutbox(queue, runtime.redis),
        build_dispatcher(runtime.profile, live_faq(runtime)),
        runtime.profile,
        phone_route(runtime),
    )
    return WorkerRuntime(runtime, Intake(router, Attachments(runtime.db), MediaFetches(queue)))
