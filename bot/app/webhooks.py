"""One webhook pipeline for every channel: verify → parse → record and route → acknowledge.

A forged request gets 403 and a malformed one 400, each with a log line; the provider is only
answered once everything in the request is recorded (DESIGN.md: nothing is lost), and nothing
slow comes before that: a message's media is recorded as references and fetched by the worker
afterwards (worker/media.py).

The boundary also answers for what reaches it: text that is not valid Unicode (a lone
surrogate) is repaired before anything stores it, and a sender over their limit
(bot/rate_limit.py) is refused with 429 where the sender itself is the client (the web chat),
or recorded without being answered (bot/app/flood.py) where a provider would retry a refusal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from aiohttp import web

from bot import metrics
from bot.app.flood import HeldRouters
from bot.app.router import Outcome, Router
from bot.models import InboundMessage, Media, StatusUpdate
from bot.rate_limit import ALLOWED, Limit, RateLimiter, Verdict
from bot.storage.attachments import Attachments
from bot.text import repair_unicode
from channels.base import FORM_TYPE, Channel, WebhookRequest
from worker.media import MediaFetches

log = logging.getLogger(__name__)

MINUTE = 60

NO_SENDER_LIMIT = Limit("sender", 0, MINUTE)
NO_CLIENT_LIMIT = Limit("client", 0, MINUTE)

Item = TypeVar("Item", InboundMessage, StatusUpdate, Media)


class TooManyMessages(Exception):
    """The sender is over a limit and is the client itself: answer 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many messages; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclasses.dataclass(frozen=True)
class InboundLimits:
    """The limits every inbound message is counted against (0 = none)."""

    sender: Limit = NO_SENDER_LIMIT
    client: Limit = NO_CLIENT_LIMIT
    # Channels whose sender is the HTTP client (the web chat): refused with 429 over a limit.
    refuse_over_limit: Collection[str] = ()


class Intake:
    """What becomes of every inbound message, from a webhook or a poller: repaired, counted
    against its sender's limits, recorded and handled; then its attachments' rows written and
    their fetch queued to the worker. The channel's quick courtesy to the provider
    (`Channel.received`) runs beside it."""

    def __init__(
        self,
        router: Router,
        attachments: Attachments,
        fetches: MediaFetches,
        limiter: RateLimiter | None = None,
        limits: InboundLimits | None = None,
    ) -> None:
        self.router = router
        self.attachments = attachments
        self.fetches = fetches
        self.limiter = limiter or RateLimiter(router.redis, enabled=False)
        self.limits = limits or InboundLimits()
        self.held = HeldRouters.beside(router)
        self._courtesies: set[asyncio.Task[None]] = set()

    async def take(
        self, channel: Channel, message: InboundMessage, client: str | None = None
    ) -> Outcome:
        """Route the message; returns once it and its attachments' references are recorded.
        `client` is the network address of a sender that is itself the HTTP client. Raises
        TooManyMessages for such a sender over a limit."""
        message = repaired(message)
        if client:  # the per-client-address attempt limits (bot/attempts.py) count it too
            message = dataclasses.replace(message, client_address=client)
        verdict = await self._count(message, client)
        if not verdict.allowed and message.channel in self.limits.refuse_over_limit:
            raise TooManyMessages(verdict.retry_after)
        if type(channel).received is not Channel.received:  # most channels owe nothing
            courtesy = asyncio.create_task(channel.received(message))
            self._courtesies.add(courtesy)  # kept until done, so it is not collected mid-way
            courtesy.add_done_callback(self._courtesies.discard)
        if verdict.allowed:
            outcome = await self.router.handle(message)
        else:
            metrics.WEBHOOK_REJECTED.labels(message.channel, "over_limit").inc()
            if verdict.tell_sender:
                log.warning("%s sender over the limit: recorded, not answered", message.channel)
            outcome = await self.held.handle(message, verdict.tell_sender)
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

    async def _count(self, message: InboundMessage, client: str | None) -> Verdict:
        if not self.limiter.enabled:  # TAWASUL_RATE_LIMITS=off: nothing to count, or hash
            return ALLOWED
        sender = self.router.store.cipher.lookup_hash(
            f"{message.channel}:{message.address_kind}:{message.address}"
        )
        checks = [(self.limits.sender, sender)]
        if client:
            checks.append((self.limits.client, self.router.store.cipher.lookup_hash(client)))
        return await self.limiter.hit(checks)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    """A dataclass's field names, worked out once per class (`dataclasses.fields` builds them
    anew on every call, on every message)."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(field.name for field in dataclasses.fields(kind))
    return names


def repaired(item: Item) -> Item:
    """The item with every string in it made valid Unicode (bot/text.py `repair_unicode`),
    logged when anything had to change: the message is then recorded as it can be read."""
    changes: dict[str, object] = {}
    for name in _field_names(type(item)):
        value = getattr(item, name)
        if isinstance(value, str):
            fixed: object = repair_unicode(value)
        elif isinstance(value, tuple) and all(isinstance(v, Media) for v in value):
            fixed = tuple(repaired(v) for v in value)
        else:
            continue
        if fixed != value:
            changes[name] = fixed
    if not changes:
        return item
    if not isinstance(item, Media):
        log.warning(
            "%s %s: text that was not valid Unicode repaired in %s",
            item.channel,
            type(item).__name__,
            ", ".join(sorted(changes)),
        )
    return dataclasses.replace(item, **changes)  # type: ignore[arg-type]


async def webhook_request(request: web.Request, public_url: str) -> WebhookRequest:
    """Copy what a channel needs out of the aiohttp request; the URL is the public one,
    because providers sign the address they called, not the one behind a proxy."""
    body = await request.read()
    form: dict[str, str] = {}
    if request.content_type == FORM_TYPE:
        try:
            posted = await request.post()
        except (ValueError, LookupError):
            # Not in its declared charset, or a charset nobody knows: no form, so verify and
            # parse refuse it (403/400) instead of an error.
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


def client_address(request: web.Request, trust_forwarded_for: bool = False) -> str:
    """The browser's network address: the peer's, or behind a trusted reverse proxy the
    last address of X-Forwarded-For (the one that proxy saw)."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.remote or ""


def webhook_handler(
    channel: Channel,
    intake: Intake,
    public_url: str,
    *,
    client_is_sender: bool = False,
    trust_forwarded_for: bool = False,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The POST handler of one channel's webhook path. `client_is_sender` (the web chat):
    the HTTP client is the beneficiary, so its address is counted too."""

    async def handle(request: web.Request) -> web.StreamResponse:
        hook = await webhook_request(request, public_url)
        try:
            verified = await channel.verify(hook)
            items = channel.parse(hook) if verified else []
        except RecursionError:  # JSON nested deeper than Python reads it
            return _malformed(channel, "body is nested too deeply")
        except ValueError as exc:
            return _malformed(channel, str(exc))
        if not verified:
            metrics.WEBHOOK_REJECTED.labels(channel.name, "signature").inc()
            log.warning("%s webhook rejected: bad signature from %s", channel.name, request.remote)
            return web.json_response({"error": "signature check failed"}, status=403)
        client = client_address(request, trust_forwarded_for) if client_is_sender else None
        results: list[int | None] = []
        for item in items:
            if isinstance(item, InboundMessage):
                try:
                    outcome = await intake.take(channel, item, client)
                except TooManyMessages as exc:
                    return too_many(exc.retry_after)
                results.append(outcome.message_id)
            else:
                await intake.router.record_status(repaired(item))
                results.append(None)
        return channel.acknowledge(hook, results)

    return handle


def _malformed(channel: Channel, reason: str) -> web.Response:
    metrics.WEBHOOK_REJECTED.labels(channel.name, "malformed").inc()
    log.warning("%s webhook rejected: %s", channel.name, reason)
    return web.json_response({"error": reason}, status=400)


def too_many(retry_after: int) -> web.Response:
    """429 with Retry-After, in the shape the web chat's page reads."""
    return web.json_response(
        {"error": "too many messages, please slow down", "retry_after": retry_after},
        status=429,
        headers={"Retry-After": str(retry_after)},
    )
