"""One webhook pipeline for every channel: verify → parse → record and route → acknowledge.

A forged request gets 403 and a malformed one 400, each with a log line; the provider is only
answered once everything in the request is recorded (DESIGN.md: nothing is lost), and nothing
slow comes before that: a message's media is recorded as references and fetched by the worker
afterwards (worker/media.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import metrics
from bot.app.router import Outcome, Router
from bot.models import InboundMessage
from bot.storage.attachments import Attachments
from channels.base import Channel, WebhookRequest
from worker.media import MediaFetches

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded"


class Intake:
    """What becomes of every inbound message, from a webhook or a poller: recorded and
    handled first; then its attachments' rows written and their fetch queued to the worker.
    The channel's quick courtesy to the provider (`Channel.received`) runs beside it."""

    def __init__(self, router: Router, attachments: Attachments, fetches: MediaFetches) -> None:
        self.router = router
        self.attachments = attachments
        self.fetches = fetches
        self._courtesies: set[asyncio.Task[None]] = set()

    async def take(self, channel: Channel, message: InboundMessage) -> Outcome:
        """Route the message; returns once it and its attachments' references are recorded."""
        if type(channel).received is not Channel.received:  # most channels owe nothing
            courtesy = asyncio.create_task(channel.received(message))
            self._courtesies.add(courtesy)  # kept until done, so it is not collected mid-way
            courtesy.add_done_callback(self._courtesies.discard)
        outcome = await self.router.handle(message)
        if message.media:
            await self._keep_media(message, outcome)
        return outcome

    async def _keep_media(self, message: InboundMessage, outcome: Outcome) -> None:
        message_id = outcome.message_id
        if message_id is None:
            # A provider's retry of a message handled already: its first copy may have been
            # cut off before the fetch was queued, so make sure of it (both steps are once).
            message_id = await self.attachments.message_id_of(message.channel, message.provider_id)
            if message_id is None:
                return
        recorded = await self.attachments.record(message_id, message.channel, message.media)
        if any(item.pending for item in recorded):
            await self.fetches.queue_fetch(message_id)


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
    channel: Channel, intake: Intake, public_url: str
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
                outcome = await intake.take(channel, item)
                results.append(outcome.message_id)
            else:
                await intake.router.record_status(item)
                results.append(None)
        return channel.acknowledge(hook, results)

    return handle
