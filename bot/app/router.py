"""The conversation router: every inbound message from every channel passes through here.

Order matters and is the product's promise: record the message (nothing is lost; a copy of
one already handled is recognised there) → claim its provider id and take its contact's lock
in one Redis call (a copy being handled right now by a live process is turned away; two quick
messages from one person are handled one after the other) → handlers → state, effects and
replies stored in one transaction, which marks the message handled only once → replies
queued to the worker. A turn that does not finish gives its claim back, so the message is
handled by the provider's retry or by the worker's inbound sweep (worker/sweep.py). Each
step is shared by the messages that reach it together (bot/batching.py), so a busy moment
costs round trips per batch, not per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redis.asyncio import Redis

from bot import metrics, whatsapp_window
from bot.attempts import Attempts
from bot.contact_lock import ContactLocks
from bot.effects import Effect, OpenHandoff
from bot.i18n import translator
from bot.models import AddressKind, InboundMessage, StatusUpdate, Template, utcnow
from bot.profile import Profile
from bot.storage import InboundRecord, Store, TurnConflict, state_version
from bot.storage.inbound import AlreadyHandled
from bot.text import has_arabic_letters, has_latin_letters
from handlers.base import N_, ConversationState, Dispatcher, Turn

log = logging.getLogger(__name__)

DEDUPE_TTL_SECONDS = 7 * 24 * 3600  # longer than any provider's retry window


class Outbox(Protocol):
    """Where stored replies go to be delivered (the RQ queue, or inline in `tawasul chat`)."""

    async def enqueue(self, message_ids: list[int]) -> None: ...


class Reminders(Protocol):
    """Where a hand-off's reminder is scheduled (RQ's scheduler; none in `tawasul chat`)."""

    async def remind(
        self, conversation_id: int, opened_at: datetime, at: datetime, text: str
    ) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one inbound message."""

    duplicate: bool
    message_id: int | None = None
    reply_ids: tuple[int, ...] = ()


class Router:
    def __init__(
        self,
        store: Store,
        redis: Redis,
        outbox: Outbox,
        dispatcher: Dispatcher,
        profile: Profile,
        phone_route: tuple[str, AddressKind] | None = None,
        reminders: Reminders | None = None,
    ) -> None:
        self.store = store
        self.reminders = reminders
        self.redis = redis
        self.outbox = outbox
        self.dispatcher = dispatcher
        self.profile = profile
        self.records = store.reads
        self.contact_locks = ContactLocks(redis)
        self.attempts = Attempts(redis, store.cipher.lookup_hash)
        self.phone_route = phone_route
        self._local_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def handle(self, msg: InboundMessage) -> Outcome:
        """Route one inbound message; returns once it is recorded and its replies queued."""
        started = time.perf_counter()
        address_hash = self.store.cipher.lookup_hash(msg.address)
        # The first await is this lock: asyncio.Lock wakes waiters in arrival order, so one
        # person's quick messages are recorded, handled and queued in the order they came.
        async with self._local_lock(f"{msg.address_kind}:{address_hash}"):
            outcome = await self._handle_in_order(msg, address_hash)
        if not outcome.duplicate:
            metrics.HANDLER_SECONDS.labels(msg.channel).observe(time.perf_counter() - started)
        return outcome

    async def _handle_in_order(self, msg: InboundMessage, address_hash: str) -> Outcome:
        record = await self.store.inbound.record_inbound(msg, address_hash)
        claim = f"tawasul:seen:{msg.channel}:{msg.provider_id}"
        held = None if record is None else await self.contact_locks.take(record.contact_id, claim)
        if record is None or held is None:  # handled already, or being handled right now
            metrics.DUPLICATES.labels(msg.channel).inc()
            return Outcome(duplicate=True)
        metrics.MESSAGES_IN.labels(msg.channel).inc()
        try:
            if record.version is not None and held.version_seen == record.version:
                state = record.state  # nobody saved since it was read with the message
            else:
                state = await self.store.inbound.load_state(record.conversation_id)
            reply_ids, held.version_saved = await self._converse(msg, record, state)
        except AlreadyHandled:
            # A copy of it, whose owner was thought gone, was saved first: this turn saved
            # nothing, and the conversation is read again by the next turn.
            await self.contact_locks.give_back(held)
            metrics.DUPLICATES.labels(msg.channel).inc()
            return Outcome(duplicate=True)
        except BaseException:
            # Recorded but not handled: let the provider's retry (or the sweep) through.
            await self.contact_locks.give_up(held)
            await self.contact_locks.give_back(held)
            raise
        # Independent once the turn is saved, so they share one wait.
        await asyncio.gather(self.contact_locks.give_back(held), self._queue(reply_ids))
        metrics.MESSAGES_OUT.labels(msg.channel).inc(len(reply_ids))
        return Outcome(duplicate=False, message_id=record.message_id, reply_ids=tuple(reply_ids))

    async def _queue(self, reply_ids: list[int]) -> None:
        """The turn is saved, its message handled: a reply that cannot be queued now (Redis
        away) is sent by the worker's outbox sweep, and the message is acknowledged all the
        same, or the provider's retry would only be answered "handled already"."""
        try:
            await self.outbox.enqueue(reply_ids)
        except Exception as exc:
            log.warning("replies %s saved, not queued (%s): the sweep sends them", reply_ids, exc)

    async def _converse(
        self, msg: InboundMessage, record: InboundRecord, saved: dict[str, Any] | None
    ) -> tuple[list[int], str]:
        """Handle the message; returns the reply ids and the conversation's new version."""
        before = _copy_json(saved)  # handlers mutate state; a failure restores this
        state = ConversationState.from_json(saved)
        language = record.language or self._first_language(msg)
        turn = Turn(
            message=msg,
            state=state,
            contact_id=record.contact_id,
            conversation_id=record.conversation_id,
            profile=self.profile,
            records=self.records,
            t=translator(language),
            now=utcnow(),
            phone_route=self.phone_route,
            message_id=record.message_id,
            attempts=self.attempts,
        )
        if record.language is None:
            turn.switch_language(language)
        decided_before = list(turn.effects)  # the router's own, kept if a handler fails
        try:
            if msg.address_kind.answered:  # a WhatsApp group's words: recorded, not answered
                await self.dispatcher.dispatch(turn)
        except Exception:
            log.exception("handler failed on message %s", record.message_id)
            _apologise(turn, before, decided_before)
        try:
            reply_ids = await self._save(record, turn)
        except TurnConflict:
            # Something it filed clashes with a stored record: nothing of the turn was saved.
            log.exception("turn of message %s not saved", record.message_id)
            _apologise(turn, before, decided_before)
            reply_ids = await self._save(record, turn)
        await self._schedule_reminders(record, turn)
        return reply_ids, state_version(turn.now)

    async def _schedule_reminders(self, record: InboundRecord, turn: Turn) -> None:
        """Once the turn is saved: the reminder of a hand-off it opened. A reminder that
        cannot be scheduled is logged, never a reason to handle the message again."""
        if self.reminders is None:
            return
        for effect in turn.effects:
            if isinstance(effect, OpenHandoff) and effect.remind_at and effect.reminder:
                try:
                    await self.reminders.remind(
                        record.conversation_id, turn.now, effect.remind_at, effect.reminder
                    )
                except Exception:
                    log.exception(
                        "hand-off reminder of message %s not scheduled", record.message_id
                    )

    async def _save(self, record: InboundRecord, turn: Turn) -> list[int]:
        """The turn's one transaction: state, effects and replies (and any message for
        another address, whose id comes back with the replies')."""
        return await self.store.inbound.save_turn(
            record, turn.channel, turn.state.to_json(), turn.replies, turn.effects, turn.now
        )

    def _first_language(self, msg: InboundMessage) -> str:
        """A new beneficiary who writes in Latin letters only is answered in English."""
        if has_latin_letters(msg.text) and not has_arabic_letters(msg.text):
            return "en"
        return self.profile.default_language

    async def record_status(self, report: StatusUpdate) -> bool:
        """Apply a provider's delivery report to the stored message; when WhatsApp refused it
        because its 24-hour window had closed, send the approved template in its place; when
        the provider gave up for a passing reason (throttling), send the message again; when
        it settled the part where a split message's send stopped in doubt, send the rest."""
        metrics.STATUS_UPDATES.labels(report.channel, report.status.value).inc()
        resend = await self.store.deliveries.claim_resend(report)
        if resend is not None:
            await self.outbox.enqueue([resend])
            return True
        applied = await self.store.deliveries.settle(report)
        if applied.resume is not None:  # the parts after the one it settled never went
            await self.outbox.enqueue([applied.resume])
        if applied.known and report.window_closed:
            await self._send_reply_waiting(report)
        return applied.known

    async def _send_reply_waiting(self, report: StatusUpdate) -> None:
        once = f"tawasul:window:{report.channel}:{report.provider_id}"
        if not await self.redis.set(once, b"1", nx=True, ex=DEDUPE_TTL_SECONDS):
            return  # the provider repeated its report
        name = self.profile.short_name.get(self.profile.default_language)
        template = Template(whatsapp_window.REPLY_WAITING_TEMPLATE, {"1": name})
        message_id = await self.store.deliveries.requeue_as_template(
            report.channel, report.provider_id, template
        )
        if message_id is not None:
            await self.outbox.enqueue([message_id])

    @asynccontextmanager
    async def _local_lock(self, key: str) -> AsyncIterator[None]:
        lock = self._local_locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._local_locks[key] = lock
        async with lock:
            yield


def _copy_json(value: Any) -> Any:
    """A deep copy of a JSON document (dicts, lists, scalars): what copy.deepcopy does for
    the conversation state at a fraction of its cost, which every turn pays."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _apologise(turn: Turn, saved: dict[str, Any] | None, effects: list[Effect]) -> None:
    """Undo what the handlers decided (state, replies, effects) and say sorry instead; the
    conversation stays where it was."""
    turn.state = ConversationState.from_json(saved)
    turn.replies.clear()
    turn.effects[:] = effects
    turn.say(
        turn.t.gettext(
            N_(
                "Sorry, something went wrong on our side. Your message is saved and "
                "our team will look at it. Write “menu” to start again."
            )
        )
    )
