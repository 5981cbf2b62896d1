"""Delivering stored outbound messages through their channels, many in flight at once.

A job carries a batch of message ids; they go out concurrently on the event loop (each
channel keeps one HTTP session), at most `IN_FLIGHT` bulk sends and `REPLIES_IN_FLIGHT`
replies of the whole process awaiting their provider (worker/inflight.py), each after its
slot in the channel's shared budget (bot/send_budget.py). The job starts them and returns
(`start_delivery`): the sends go on while the worker takes its next job.

Exactly once: each message is claimed in the database (queued → sending, one conditional
UPDATE for many claims at once) right before its provider is called, so a second job with
the same id (a sweep, a resumed broadcast) sends nothing. The message's own id travels with
the send (MessageRef), so the provider's status report settles it: a send whose answer
never came (a timeout; a worker killed mid-request, found later by the sweep) is
`unknown`, never sent blind again. Retryable failures come back later in a delivery job of
their own, on the retry schedule; the last one leaves the message failed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError

from bot.db_threads import urgent
from bot.models import DeliveryStatus, MessageRef
from bot.send_budget import SendBudget, parse_limits, sleep_until
from bot.storage import Deliveries, Delivery
from bot.storage.broadcasts import Broadcasts
from bot.storage.outbound_batch import OutboundBatches, Outcome
from channels.base import (
    ContactStoppedError,
    InDoubtSendError,
    PermanentSendError,
    RetryableSendError,
    ThrottledError,
)
from worker import defaults
from worker.context import WorkerContext
from worker.inflight import in_flight, start_task

log = logging.getLogger(__name__)

REDIS_AWAY_RETRY_SECONDS = 2  # a Redis that dropped a connection is usually back at once


class RetryLater(Protocol):
    """Called with message ids to try again after `delay` seconds (the job layer queues
    them); `bulk` ones go back as broadcast deliveries, so consent and stop are checked
    again before they are sent."""

    async def __call__(self, message_ids: list[int], delay: int, *, bulk: bool = False) -> None: ...


DEFAULT_THROTTLE_SECONDS = 1.0
# Bulk sends book the shared budget at most this far ahead, so a reply waits no longer.
BULK_HORIZON_SECONDS = 1.0

_budgets: dict[int, SendBudget] = {}


def budget_for(context: WorkerContext) -> SendBudget:
    """One budget client per context (the worker keeps one context for its life)."""
    budget = _budgets.get(id(context))
    if budget is None:
        limits = parse_limits(context.settings.rate_limits)
        budget = SendBudget(context.redis, limits, context.settings.queue_name)
        _budgets[id(context)] = budget
    return budget


class ClaimWriter:
    """Claims sends as they come, many per transaction, each caller waiting for its own
    answer: while one claim is written, the next ones gather."""

    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.pending: list[tuple[int, asyncio.Future[bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def claim(self, message_id: int) -> bool:
        """True when this message is ours to send now (it was still queued)."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append((message_id, answer))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await answer

    async def _flush(self) -> None:
        while self.pending:
            taken, self.pending = self.pending, []
            try:
                claimed = await self.deliveries.claim([message_id for message_id, _ in taken])
            except Exception as exc:  # each caller sees the failure as its own
                for _, answer in taken:
                    if not answer.done():
                        answer.set_exception(exc)
                continue
            for message_id, answer in taken:
                if not answer.done():
                    answer.set_result(message_id in claimed)


class OutcomeWriter:
    """Records outcomes as they come, many per transaction: while one write runs, the next
    outcomes gather, and go together in the next one."""

    def __init__(self, batches: OutboundBatches) -> None:
        self.batches = batches
        self.pending: list[Outcome] = []
        self.going_on: list[int] = []  # split sends whose part in doubt was reported taken
        self._task: asyncio.Task[None] | None = None

    async def add(self, outcome: Outcome) -> None:
        self.pending.append(outcome)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self.pending:
            taken, self.pending = self.pending, []
            self.going_on += await self.batches.record(taken)

    async def drain(self) -> None:
        """Wait until every outcome added is written."""
        while self._task is not None and not self._task.done():
            await self._task
        if self.pending:
            await self._flush()


Record = Callable[[Outcome], Awaitable[None]]


@dataclass
class Outcomes:
    """What happened to each message of a batch (for logs and tests)."""

    by_id: dict[int, str] = field(default_factory=dict)
    retry: dict[int, list[int]] = field(default_factory=dict)  # delay → ids


async def deliver_many(
    context: WorkerContext,
    message_ids: Sequence[int],
    *,
    bulk: bool = False,
    retry_later: RetryLater | None = None,
) -> dict[int, str]:
    """Send every message of the batch, concurrently; bulk (broadcast) messages are checked
    again for consent and stop first. Returns each message's outcome. A reply's database
    work goes ahead of the broadcast's: its beneficiary is waiting."""
    with nullcontext() if bulk else urgent():
        return await _deliver_many(context, message_ids, bulk=bulk, retry_later=retry_later)


async def _deliver_many(
    context: WorkerContext,
    message_ids: Sequence[int],
    *,
    bulk: bool,
    retry_later: RetryLater | None,
) -> dict[int, str]:
    outcomes = Outcomes()
    ids = list(dict.fromkeys(message_ids))
    if bulk and ids:
        unwanted = await Broadcasts(context.store.db).unwanted(ids)
        if unwanted:
            await Broadcasts(context.store.db).skip_messages(unwanted)
            for message_id, reason in unwanted.items():
                outcomes.by_id[message_id] = f"skipped: {reason}"
            ids = [message_id for message_id in ids if message_id not in unwanted]
    flight = in_flight(context)
    gate = flight.sends if bulk else flight.replies
    batches = OutboundBatches(context.store.db)
    loaded = await batches.load(ids)
    writer = OutcomeWriter(batches)
    claims = ClaimWriter(context.store.deliveries)
    # One recipient's messages go in order (a reply's intro before its question, a notice
    # before the opt-out's confirmation that came after it): each recipient's are sent one
    # after the other, different recipients' side by side.
    per_recipient: dict[tuple[str, str], list[Delivery]] = {}
    for message_id in ids:
        delivery = loaded.get(message_id)
        if delivery is None:
            outcomes.by_id[message_id] = "missing"
        else:
            per_recipient.setdefault((delivery.channel, delivery.address), []).append(delivery)
    budget = budget_for(context)

    async def in_order(group: list[Delivery]) -> None:
        first = group[0]
        # The recipient's turn in this process, for the whole group: a later job's message
        # to them waits for these, instead of taking a budget slot between two of them.
        async with flight.recipient_turn(first.channel, first.address):
            ready: dict[int, float] = {}
            for index, delivery in enumerate(group):
                async with gate:  # places are given in turn: replies keep their queue order
                    if index == 0 and not bulk:
                        # Replies reserve all their slots at once, in order, so another
                        # worker's later message to the same chat books the slot after them;
                        # bulk books at most a second ahead (the horizon), so it asks for
                        # each slot when it comes.
                        ready = await reserve_all(group)
                    await send_one(delivery, ready.get(delivery.message_id))

    async def reserve_all(group: list[Delivery]) -> dict[int, float]:
        ready: dict[int, float] = {}
        try:
            for delivery in group:
                if _sendable(context, delivery):
                    ready[delivery.message_id] = await budget.reserve(
                        delivery.channel,
                        delivery.address_kind,
                        delivery.address,
                        delivery.message.text,
                    )
        except RedisError:
            return {}  # each message asks again, and meets Redis's answer itself
        return ready

    async def send_one(delivery: Delivery, ready_at: float | None) -> None:
        try:
            outcomes.by_id[delivery.message_id] = await _deliver_one(
                context,
                delivery,
                outcomes,
                writer.add,
                claims.claim,
                bulk=bulk,
                ready_at=ready_at,
            )
        except RedisError as exc:
            # Redis went away before the send was claimed (the budget and the claim
            # come first): nothing reached the provider, so it is tried again soon.
            log.warning("message %s: Redis away before sending (%s)", delivery.message_id, exc)
            outcomes.by_id[delivery.message_id] = "redis away"
            outcomes.retry.setdefault(REDIS_AWAY_RETRY_SECONDS, []).append(delivery.message_id)
        except Exception:  # one message's bug must not lose the others' outcomes
            log.exception("message %s: delivery failed unexpectedly", delivery.message_id)
            outcomes.by_id[delivery.message_id] = "error"

    try:
        await asyncio.gather(*(in_order(group) for group in per_recipient.values()))
    finally:
        await writer.drain()
    if writer.going_on:  # on from the part after the one in doubt, now
        outcomes.retry.setdefault(0, []).extend(writer.going_on)
    for delay, retry_ids in outcomes.retry.items():
        if retry_later is not None:
            await retry_later(retry_ids, delay, bulk=bulk)
    return outcomes.by_id


def _sendable(context: WorkerContext, delivery: Delivery) -> bool:
    """Whether the message would reach its provider now (queued, on a channel that is on):
    only those reserve a slot."""
    return delivery.status is DeliveryStatus.QUEUED and delivery.channel in context.channels


async def start_delivery(
    context: WorkerContext,
    message_ids: Sequence[int],
    *,
    bulk: bool = False,
    retry_later: RetryLater | None = None,
) -> str:
    """Start sending a batch and return at once: its sends go on past the job (their
    outcomes are recorded as they come; the worker lets them finish before it exits)."""
    ids = list(message_ids)
    start_task(
        context,
        deliver_many(context, ids, bulk=bulk, retry_later=retry_later),
        f"delivering {len(ids)} message(s) from {ids[0] if ids else '-'}",
    )
    return f"sending {len(ids)}"


async def deliver(context: WorkerContext, message_id: int, *, last_attempt: bool) -> str:
    """Send one message now (the terminal chat, tests); with `last_attempt` a retryable
    failure leaves it failed instead of queued."""
    outcomes = Outcomes()
    delivery = await context.store.deliveries.delivery(message_id)
    if delivery is None:
        return "missing"
    batches = OutboundBatches(context.store.db)

    async def record(outcome: Outcome) -> None:
        # A split send that goes on is queued again: with no job here to carry it, the
        # sweep hands it to a worker (worker/sweep.py, queued messages no job carries).
        await batches.record([outcome])

    claims = ClaimWriter(context.store.deliveries)
    return await _deliver_one(
        context, delivery, outcomes, record, claims.claim, force_last=last_attempt
    )


async def _deliver_one(
    context: WorkerContext,
    delivery: Delivery,
    outcomes: Outcomes,
    record: Record,
    claim: Callable[[int], Awaitable[bool]],
    *,
    force_last: bool = False,
    bulk: bool = False,
    ready_at: float | None = None,
) -> str:
    """Send one message: its budget slot (or the one reserved for it, `ready_at`), its
    claim, the provider's call, its outcome."""
    deliveries = context.store.deliveries
    message_id = delivery.message_id
    if delivery.status is not DeliveryStatus.QUEUED:
        return f"already {delivery.status}"  # jobs run at least once; never send twice
    channel = context.channels.get(delivery.channel)
    if channel is None:
        await record(Outcome(message_id, DeliveryStatus.FAILED, error_code="channel-off"))
        log.error("message %s: channel %s is off", message_id, delivery.channel)
        return "channel off"
    attempt = delivery.attempts + 1
    last_attempt = force_last or attempt > len(defaults.DELIVERY_RETRY_INTERVALS)
    # The budget first, then the claim: a message is claimed only just before its request.
    budget = budget_for(context)
    if ready_at is not None:
        await sleep_until(ready_at)
    else:
        await budget.take(
            delivery.channel,
            delivery.address_kind,
            delivery.address,
            delivery.message.text,
            horizon=BULK_HORIZON_SECONDS if bulk else None,
        )
    if not await claim(message_id):
        return "claimed elsewhere"
    try:
        result = await channel.send(
            delivery.address_kind,
            delivery.address,
            delivery.message,
            reference=MessageRef(message_id),
            already_sent=delivery.sent_parts,
        )
    except InDoubtSendError as exc:
        # The request went and no answer came: the provider may hold it. Its report, which
        # carries our id, settles it; sending again could reach the beneficiary twice.
        await record(
            Outcome(message_id, DeliveryStatus.UNKNOWN, error_code=exc.code, parts=exc.sent_parts)
        )
        log.warning("message %s: %s; unknown until the provider reports", message_id, exc)
        return DeliveryStatus.UNKNOWN.value
    except ContactStoppedError as exc:
        code = exc.code or "stopped"
        await record(
            Outcome(message_id, DeliveryStatus.FAILED, error_code=code, parts=exc.sent_parts)
        )
        await deliveries.stop_address(message_id)
        return "contact stopped"
    except PermanentSendError as exc:
        await record(
            Outcome(message_id, DeliveryStatus.FAILED, error_code=exc.code, parts=exc.sent_parts)
        )
        log.warning("message %s failed permanently: %s", message_id, exc)
        return "failed"
    except RetryableSendError as exc:
        if isinstance(exc, ThrottledError):
            seconds = getattr(exc, "retry_after", None) or DEFAULT_THROTTLE_SECONDS
            await budget.slow_down(delivery.channel, delivery.address_kind, seconds)
        status = DeliveryStatus.FAILED if last_attempt else DeliveryStatus.QUEUED
        # The parts that went are kept: the retry sends only the others.
        code = exc.code or "retryable"
        await record(Outcome(message_id, status, error_code=code, parts=exc.sent_parts))
        log.warning("message %s: %s (last attempt: %s)", message_id, exc, last_attempt)
        if last_attempt:
            return "failed after retries"
        delay = defaults.DELIVERY_RETRY_INTERVALS[attempt - 1]
        if isinstance(exc, ThrottledError):
            delay = max(1, math.ceil(getattr(exc, "retry_after", None) or 1))
        outcomes.retry.setdefault(delay, []).append(message_id)
        return f"retry in {delay} s"
    await record(
        Outcome(message_id, DeliveryStatus.SENT, provider_id=result.provider_id, parts=result.parts)
    )
    return "sent"
