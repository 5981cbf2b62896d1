"""The aiohttp application: webhooks, web chat, the staff console, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.app.chat_page import chat_routes
from bot.app.router import Router
from bot.app.runtime import Runtime, live_faq, phone_route
from bot.app.webhooks import MINUTE, InboundLimits, Intake, client_address, webhook_handler
from bot.console import PREFIX as CONSOLE_PREFIX
from bot.console import ConsoleContext, console_app
from bot.migrate import head_revision, schema_problem
from bot.models import InboundMessage
from bot.rate_limit import Limit, RateLimiter
from bot.storage.attachments import Attachments
from channels.webchat import WebChatChannel
from handlers.wiring import build_dispatcher
from worker.broadcast_service import BroadcastService
from worker.defaults import outbox_key
from worker.handoff import HandoffReminders
from worker.media import MediaFetches
from worker.queues import QueueOutbox, make_queue

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 3.0
ROUTER = web.AppKey("router", Router)
POLLERS = web.AppKey("pollers", list)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Never show a stack trace: unexpected failures become 503 so providers retry later."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(
            {"error": "temporarily unavailable, please retry"},
            status=503,
            headers={"Retry-After": "5"},
        )


def create_app(
    runtime: Runtime, router: Router | None = None, media: MediaFetches | None = None
) -> web.Application:
    """The web application over an opened runtime; the router defaults to the RQ outbox, and
    media fetches go to the same queue with the default retry schedule."""
    queue = make_queue(runtime.redis_url, runtime.settings.queue_name)
    outbox = QueueOutbox(queue, runtime.redis)
    if router is None:
        router = Router(
            runtime.store,
            runtime.redis,
            outbox,
            build_dispatcher(runtime.profile, live_faq(runtime)),
            runtime.profile,
            phone_route(runtime),
            HandoffReminders(queue),
        )
    settings = runtime.settings
    limiter = RateLimiter(runtime.redis, enabled=settings.limits_on)
    limits = InboundLimits(
        sender=Limit("sender", settings.sender_messages_per_minute, MINUTE),
        client=Limit("client", settings.client_messages_per_minute, MINUTE),
        refuse_over_limit={"webchat"},
    )
    intake = Intake(router, Attachments(runtime.db), media or MediaFetches(queue), limiter, limits)
    app = web.Application(middlewares=[errors_middleware], client_max_size=1024**2)
    public_url = settings.public_url
    for channel in runtime.channels.values():
        handler = webhook_handler(
            channel,
            intake,
            public_url,
            client_is_sender=isinstance(channel, WebChatChannel),
            trust_forwarded_for=settings.trust_forwarded_for,
        )
        for path in channel.webhook_paths:
            app.router.add_post(path, handler)
        app.router.add_routes(channel.extra_routes())
    webchat = runtime.channels.get("webchat")
    if isinstance(webchat, WebChatChannel):
        sessions = Limit("sessions", settings.client_sessions_per_hour, 60 * MINUTE)
        app.router.add_routes(chat_routes(webchat, runtime.profile, limiter, sessions, settings))

    head = head_revision()

    async def database_ready() -> None:
        """Reachable and migrated: over an older schema every message would fail."""
        problem = await runtime.db.run(schema_problem, runtime.db.engine, head)
        if problem is not None:
            raise SchemaNotReady(problem)

    async def healthz(request: web.Request) -> web.Response:
        checks = {
            "database": _check(database_ready()),
            "redis": _check(runtime.redis.ping()),
        }
        results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
        healthy = all(value == "ok" for value in results.values())
        return web.json_response(
            {"status": "ok" if healthy else "unavailable", **results},
            status=200 if healthy else 503,
        )

    async def metrics_page(request: web.Request) -> web.Response:
        jobs = await runtime.redis.llen(f"rq:queue:{queue.name}")
        waiting = await runtime.redis.llen(outbox_key(queue.name))  # replies not yet jobs
        metrics.QUEUE_DEPTH.labels(queue.name).set(jobs + waiting)
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def home(request: web.Request) -> web.Response:
        raise web.HTTPFound("/chat")

    async def start_pollers(app: web.Application) -> None:
        async def deliver(message: InboundMessage) -> object:
            return await intake.take(channel_of[message.channel], message)

        channel_of = runtime.channels
        app[POLLERS] = [
            asyncio.create_task(channel.poll(deliver), name=f"poll-{name}")
            for name, channel in runtime.channels.items()
        ]

    async def stop_pollers(app: web.Application) -> None:
        for task in app[POLLERS]:
            task.cancel()
        await asyncio.gather(*app[POLLERS], return_exceptions=True)

    app.on_startup.append(start_pollers)
    app.on_cleanup.insert(0, stop_pollers)
    app.router.add_get("/", home)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    console = ConsoleContext(
        runtime.store,
        runtime.redis,
        runtime.profile,
        public_url,
        runtime.settings.queue_name,
        outbox,
        runtime.channels,
        broadcasts=BroadcastService(runtime.db, queue, runtime.profile.default_language),
        media=runtime.media,
        address_of=partial(client_address, trust_forwarded_for=settings.trust_forwarded_for),
    )

    async def console_home(request: web.Request) -> web.Response:
        raise web.HTTPFound(CONSOLE_PREFIX + "/")

    app.router.add_get(CONSOLE_PREFIX, console_home)  # before the console claims the prefix
    app.add_subapp(CONSOLE_PREFIX, console_app(console))
    app[ROUTER] = router
    return app


class SchemaNotReady(Exception):
    """The database answers but is not at this code's schema revision; says what to do."""


async def _check(probe: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT_SECONDS)
    except SchemaNotReady as exc:
        return f"error: {exc}"
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
