"""One webhook pipeline for every channel: verify → parse → route → acknowledge.

A forged request gets 403 and a malformed one 400, each with a log line; the provider is only
answered once everything in the request is recorded (DESIGN.md: nothing is lost).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import metrics
from bot.app.router import Router
from bot.models import InboundMessage
from channels.base import Channel, WebhookRequest

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded"


async def webhook_request(request: web.Request, public_url: str) -> WebhookRequest:
    """Copy what a channel needs out of the aiohttp request; the URL is the public one,
    because providers sign the address they called, not the one behind a proxy."""
    body = await request.read()
    form: dict[str, str] = {}
    if request.content_type == FORM_TYPE:
        try:
            posted = await request.post()
        except ValueError:  # not in its declared charset: no form, so verify/parse refuse it
            posted = None
        form = {k: v for k, v in posted.items() if isinstance(v, str)} if posted else {}
    return WebhookRequest(
        method=request.method,
        path=request.path,
        url=public_url + request.path_qs,
        headers=dict(request.headers),
        query=dict(request.query),
        body=body,
        form=form,
    )


def webhook_handler(
    channel: Channel, router: Router, public_url: str
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        hook = await webhook_request(request, public_url)
        if not await channel.verify(hook):
            metrics.WEBHOOK_REJECTED.labels(channel.name, "signature").inc()
            log.warning("%s webhook rejected: bad signature from %s", channel.name, request.remote)
            return web.json_response({"error": "signature check failed"}, status=403)
        try:
            items = channel.parse(hook)
        except ValueError as exc:
            metrics.WEBHOOK_REJECTED.labels(channel.name, "malformed").inc()
            log.warning("%s webhook rejected: %s", channel.name, exc)
            return web.json_response({"error": str(exc)}, status=400)
        results: list[int | None] = []
        for item in items:
            if isinstance(item, InboundMessage):
                outcome = await router.handle(await channel.enrich(item))
                results.append(outcome.message_id)
            else:
                await router.record_status(item)
                results.append(None)
        return channel.acknowledge(hook, results)

    return handle
