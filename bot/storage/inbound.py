"""The inbound path: record a message, read the conversation's state, save the turn.

Every step a message takes in the database goes through one group commit
(bot/batching.py): the steps of all messages waiting at that moment, whichever step each is
at, share one database thread hop and one transaction. The router records an inbound message
before anything else happens, so a crash later never loses what was written; everything the
turn decided is then saved in one transaction with its new state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from bot.batching import Batcher
from bot.crypto import Cipher
from bot.db import Database
from bot.effects import Effect
from bot.models import InboundMessage, OutboundMessage
from bot.models import utcnow as _now
from bot.prepared import Prepared
from bot.storage.inbound_rows import (
    RECEIVED,
    InboundRecord,
    InboundStatements,
    insert_inbound,
    insert_message,
    journey_of,
)
from bot.storage.inbound_unhandled import unhandled_messages
from bot.storage.references import ever_given
from bot.storage.turn_effects import apply_effects
from bot.storage.turn_write import Statements, TurnWrite

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Turn:
    """What one handled message leaves to be saved."""

    record: InboundRecord
    channel: str
    state: dict[str, Any]
    replies: list[OutboundMessage]
    effects: list[Effect]
    now: datetime | None


@dataclass(frozen=True)
class _Record:
    """An inbound message to record."""

    msg: InboundMessage
    address_hash: str


@dataclass(frozen=True)
class _Read:
    """A one-value read on the inbound path."""

    statement: Prepared
    values: dict[str, Any]


_Step = _Record | _Read | _Turn


def _step_order(step: _Step) -> tuple[int, str, str]:
    if isinstance(step, _Turn):
        return (0, "", "")
    if isinstance(step, _Read):
        return (1, "", "")
    return (2, step.msg.address_kind.value, step.address_hash)


@contextmanager
def _savepoint(cursor: Any) -> Iterator[None]:
    """Undo only this block's statements if it fails; the transaction goes on."""
    cursor.execute("SAVEPOINT step")
    try:
        yield
    except BaseException:
        cursor.execute("ROLLBACK TO SAVEPOINT step")
        cursor.execute("RELEASE SAVEPOINT step")
        raise
    cursor.execute("RELEASE SAVEPOINT step")


class AlreadyHandled(Exception):
    """Another turn of the same message was saved first: this one is not saved at all, so
    a message is handled exactly once however many copies of it were being handled."""


class TurnConflict(Exception):
    """A record the turn decided clashes with one already stored (a reference drawn twice, a
    second open request for one national ID): the turn is not saved; nothing of it is."""


class Inbound:
    """The inbound path's reads and writes, batched. If one step of a batch fails, the batch
    is done again with a savepoint each, so that its failure is its own."""

    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher
        self.statements = InboundStatements(db.engine.dialect)
        self.effect_statements = Statements(db.engine.dialect)
        # Each batch is one hop to the database thread (bot/batching.py).
        self._inbound_batcher: Batcher[_Step, Any] = Batcher(partial(db.run, self._inbound_many))

    async def record_inbound(
        self, msg: InboundMessage, address_hash: str | None = None
    ) -> InboundRecord | None:
        """Store the message (creating the contact on first contact); `address_hash` is
        the cipher's lookup hash of its address, when the caller has it already.

        Returns None for a duplicate that was already handled; a duplicate whose first copy
        was recorded but never handled (a crash mid-turn) is returned again to be handled.
        """
        if address_hash is None:
            address_hash = self.cipher.lookup_hash(msg.address)
        record: InboundRecord | None = await self._inbound_batcher(_Record(msg, address_hash))
        return record

    async def load_state(self, conversation_id: int) -> dict[str, Any] | None:
        """The conversation's state as last saved (None for a new conversation)."""
        state: dict[str, Any] | None = await self._inbound_batcher(
            _Read(self.statements.load_state, {"conversation_id": conversation_id})
        )
        return state

    async def unhandled(
        self, recorded_before: datetime, recorded_after: datetime, limit: int = 200
    ) -> list[InboundMessage]:
        """Messages recorded in that span and never handled (their turn was cut off), oldest
        first, as their channel gave them: for the inbound sweep to hand to the router."""
        return await self.db.run(
            unhandled_messages, self.db, recorded_before, recorded_after, limit
        )

    async def handoff_status(self, handoff_id: int) -> str | None:
        """Whether staff still hold a conversation is asked on every message while they do."""
        status: str | None = await self._inbound_batcher(
            _Read(self.statements.handoff_status, {"handoff_id": handoff_id})
        )
        return status

    async def reference_known(self, kind: str, reference: str) -> bool:
        """Whether a request ("R") or complaint ("C") has this stored reference; one too
        short to have been given (a menu number typed at the prompt) is not looked up."""
        if not ever_given(reference):
            return False
        statements = self.statements
        statement = statements.request_known if kind == "R" else statements.complaint_known
        found = await self._inbound_batcher(_Read(statement, {"reference": reference}))
        return found is not None

    async def save_turn(
        self,
        record: InboundRecord,
        channel: str,
        state: dict[str, Any],
        replies: list[OutboundMessage],
        effects: list[Effect],
        now: datetime | None = None,
    ) -> list[int]:
        """Persist the new state, the effects and the queued replies atomically; `now` is
        the time saved with them (the conversation's new `state_version`). Returns the ids of
        the replies, then of any message an effect queued for another address; raises
        TurnConflict, with nothing saved, when an effect clashes with a stored record."""
        reply_ids: list[int] = await self._inbound_batcher(
            _Turn(record, channel, state, replies, effects, now)
        )
        return reply_ids

    def _inbound_many(self, steps: list[_Step]) -> list[Any]:
        """The batch in one plain transaction; if any step fails, again in a second one
        where each step has a savepoint, so that its failure (a copy, a race for a new
        address) is its own."""
        # Saves first, so a message recorded in the same batch reads the state they leave;
        # records in address order (stable, so one sender's messages keep theirs): two
        # processes recording the same new senders then lock their index entries in the
        # same order, and cannot deadlock on PostgreSQL.
        order = sorted(range(len(steps)), key=lambda n: _step_order(steps[n]))
        now = _now()
        write = not all(isinstance(step, _Read) for step in steps)
        try:
            with self.db.raw_transaction(write) as cursor:
                done = {n: self._do_step(cursor, steps[n], now) for n in order}
            return [done[n] for n in range(len(steps))]
        except Exception as exc:
            log.debug("batch of the inbound path again, one by one: %s", exc)
        duplicate = self.db.engine.dialect.dbapi.IntegrityError  # type: ignore[union-attr]
        results: list[Any] = [None] * len(steps)
        recorded: set[tuple[str, str]] = set()
        with self.db.raw_transaction(write) as cursor:
            for n in order:
                step = steps[n]
                try:  # a step undoes its own statements on failure
                    if isinstance(step, _Record):
                        key = (step.msg.channel, step.msg.provider_id)
                        repeated = key in recorded
                        recorded.add(key)
                        results[n] = self._record_one(cursor, step.msg, step.address_hash, repeated)
                    else:
                        with _savepoint(cursor):
                            results[n] = self._do_step(cursor, step, now)
                except duplicate as exc:
                    results[n] = TurnConflict(str(exc)) if isinstance(step, _Turn) else exc
                except Exception as exc:  # this step only; the others still commit
                    results[n] = exc
        return results

    def _do_step(self, cursor: Any, step: _Step, now: datetime) -> Any:
        if isinstance(step, _Record):
            return insert_inbound(self.statements, cursor, step.msg, step.address_hash, self.cipher)
        if isinstance(step, _Read):
            return step.statement.scalar(cursor, step.values)
        return self._save_one(cursor, step, step.now or now)

    def _record_one(
        self, cursor: Any, msg: InboundMessage, address_hash: str, repeated_in_batch: bool
    ) -> InboundRecord | None:
        duplicate = self.db.engine.dialect.dbapi.IntegrityError  # type: ignore[union-attr]
        for _attempt in range(3):
            try:
                with _savepoint(cursor):
                    return insert_inbound(self.statements, cursor, msg, address_hash, self.cipher)
            except duplicate:
                # A provider retry of the same message, or two first messages from a new
                # address racing to create the contact: the next look tells which.
                existing = self.statements.find_inbound.first(
                    cursor, {"channel": msg.channel, "provider_id": msg.provider_id}
                )
                if existing is not None:
                    message_id, status, address_id, conversation_id, contact_id, language = existing
                    if repeated_in_batch or status != RECEIVED:
                        return None
                    return InboundRecord(
                        message_id, contact_id, address_id, conversation_id, language, False
                    )
        raise RuntimeError("could not record inbound message after retries")

    def _save_one(self, cursor: Any, turn: _Turn, now: datetime) -> list[int]:
        """Everything the turn decided: the message marked handled (unless a copy's turn
        did it first: then nothing is saved), its effects (one may fill in the state, such
        as the hand-off it opened), the state and the replies; returns the ids of the
        replies and of any other message to deliver."""
        statements, record = self.statements, turn.record
        marked = statements.mark_handled.execute(
            cursor, {"message_id": record.message_id, "now": now}
        )
        if marked.rowcount == 0:
            raise AlreadyHandled(record.message_id)
        state, queued = turn.state, []
        if turn.effects:  # most turns have none
            write = TurnWrite(
                cursor,
                self.effect_statements,
                self.cipher,
                record.contact_id,
                record.conversation_id,
                record.address_id,
                turn.channel,
                now,
                dict(state),
            )
            apply_effects(write, turn.effects)
            state, queued = write.state, write.queued
        statements.save_state.execute(
            cursor,
            {
                "conversation_id": record.conversation_id,
                "state": state,
                "address_id": record.address_id,
                "now": now,
            },
        )
        journey = journey_of(state)
        replies = [
            insert_message(statements, cursor, record, turn.channel, now, reply, journey)
            for reply in turn.replies
        ]
        return replies + queued if queued else replies
