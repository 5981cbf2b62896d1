"""Outbound messages a batch at a time, for the worker's concurrent delivery: one query to
load a batch, one transaction to record many outcomes (bot/storage/deliveries.py does the
same one message at a time). On SQLite, whose single writer thread is the worker's limit,
this is the difference between about 200 and many hundreds of messages a second."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, or_, select, update

from bot.db import Database
from bot.models import AddressKind, DeliveryStatus, OutboundMessage, utcnow
from bot.storage.deliveries import UNSETTLED, Delivery
from bot.storage.delivery_reports import record_parts, sent_parts
from bot.tables import ContactAddress, Message

# A report that came before the worker's record (a provider calls back fast) is not undone.
# (equalities, not IN: an expanding IN cannot go in an executemany)
_IN_FLIGHT = or_(*(Message.status == status for status in UNSETTLED))
_RECORD = (
    update(Message)
    .where(Message.id == bindparam("message_id"))
    .values(
        status=case((_IN_FLIGHT, bindparam("new_status")), else_=Message.status),
        attempts=Message.attempts + 1,
        updated_at=bindparam("now"),
        error_code=case((_IN_FLIGHT, bindparam("error")), else_=Message.error_code),
        provider_id=bindparam("provider"),
    )
)


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, as `Deliveries.mark_attempt` records it."""

    message_id: int
    status: DeliveryStatus
    provider_id: str | None = None
    error_code: str | None = None
    parts: tuple[str, ...] = ()  # every part's provider id, when it went as several
    # or, for a send that stopped part way (not SENT), the ids of the parts that went


class OutboundBatches:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, message_ids: Sequence[int]) -> dict[int, Delivery]:
        """The deliveries of a batch, by id (ids not found are left out)."""
        return await self.db.run(self._load, list(message_ids))

    def _load(self, message_ids: list[int]) -> dict[int, Delivery]:
        # Columns, not ORM objects: the worker's one database thread loads every message it
        # sends, and building (and tracking) an object per message cost it a fifth of its time.
        with self.db.reads() as session:
            rows = session.execute(
                select(
                    Message.id,
                    Message.channel,
                    Message.payload,
                    Message.status,
                    Message.attempts,
                    ContactAddress.kind,
                    ContactAddress.address,
                )
                .join(ContactAddress, ContactAddress.id == Message.address_id)
                .where(Message.id.in_(message_ids), Message.direction == "out")
            ).all()
            # Only a message tried before can have parts that went (one query per batch).
            retried = [row.id for row in rows if row.attempts]
            already = sent_parts(session, retried) if retried else {}
        return {
            message_id: Delivery(
                message_id=message_id,
                channel=channel,
                address_kind=AddressKind(kind),
                address=address,
                message=OutboundMessage.from_json(payload),
                status=DeliveryStatus(status),
                attempts=attempts,
                sent_parts=already.get(message_id, ()),
            )
            for message_id, channel, payload, status, attempts, kind, address in rows
        }

    async def record(self, outcomes: Sequence[Outcome]) -> list[int]:
        """Record many attempts in one transaction (a provider id is kept once known).
        Returns the messages whose send goes on (bot/storage/delivery_reports.py
        `record_parts`): the caller queues their delivery."""
        if not outcomes:
            return []
        going_on: list[int] = await self.db.run(self._record, list(outcomes))
        return going_on

    def _record(self, outcomes: list[Outcome]) -> list[int]:
        now = utcnow()
        with_id: list[dict[str, Any]] = []
        without: list[dict[str, Any]] = []
        for outcome in outcomes:
            values = {
                "message_id": outcome.message_id,
                "new_status": outcome.status.value,
                "now": now,
                "error": outcome.error_code,
                "provider": outcome.provider_id,
            }
            (with_id if outcome.provider_id is not None else without).append(values)
        with self.db.sessions.begin() as session:
            connection = session.connection()
            if with_id:
                connection.execute(_RECORD, with_id)
            if without:
                statement = _RECORD.values(provider_id=Message.provider_id)
                connection.execute(statement, without)
            going_on: list[int] = []
            for outcome in outcomes:
                if outcome.parts:
                    channel = session.scalar(
                        select(Message.channel).where(Message.id == outcome.message_id)
                    )
                    whole = outcome.status is DeliveryStatus.SENT
                    if record_parts(
                        session,
                        outcome.message_id,
                        channel or "",
                        outcome.parts,
                        stopped=None if whole else outcome.status,
                        error_code=outcome.error_code,
                    ):
                        going_on.append(outcome.message_id)
        return going_on
