"""Broadcasts: the audience resolved to one row per contact, batches of recipients turned into
outbound messages, and the counts a manager follows (nyaruka/mailroom's model).

The audience is contacts whose latest `updates` consent is yes, reached on the address they
last wrote from (not stopped), filtered by language, channel and city (the city of their
latest support request). It is read in pages of contacts, so memory does not grow with it.
Consent, stop and the broadcast's own state are checked again when each batch becomes
messages and again right before each send (`unwanted`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from bot.db import Database
from bot.models import DeliveryStatus, OutboundMessage, utcnow
from bot.profile import Profile
from bot.storage.broadcast_audience import (
    SKIP_CANCELLED,
    SKIP_CHANNEL_OFF,
    SKIP_OPTED_OUT,
    SKIP_STOPPED,
    UNKNOWN,
    BroadcastSpec,
    audience,
    last_inbound_at,
    latest_consent,
    message_for,
)
from bot.tables import (
    Base,
    Broadcast,
    BroadcastRecipient,
    Contact,
    ContactAddress,
    Conversation,
    Message,
)

__all__ = ["UNKNOWN", "BroadcastCounts", "BroadcastSpec", "BroadcastSummary", "Broadcasts"]


_MESSAGES = Base.metadata.tables["messages"]
_RECIPIENTS = Base.metadata.tables["broadcast_recipients"]
# A batch's new messages (ids in row order) and its recipients, messaged or skipped: on the
# tables, since the ORM's bulk paths kept books per row that cost more than SQLite's insert.
_INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)
_SETTLE_RECIPIENTS = (
    update(_RECIPIENTS)
    .where(_RECIPIENTS.c.id == bindparam("rid"))
    .values(
        status=bindparam("outcome"),
        skip_reason=bindparam("reason"),
        message_id=bindparam("message"),
    )
)


@dataclass(frozen=True)
class BroadcastSummary:
    id: int
    status: str
    created_at: datetime
    scheduled_at: datetime | None
    recipients: int
    text_ar: str = ""
    text_en: str = ""
    created_by: str = ""


@dataclass
class BroadcastCounts:
    """Where each recipient of a broadcast is; `done` once nothing is left to send."""

    id: int
    status: str
    total: int = 0
    pending: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def finished(self) -> int:
        return self.total - self.pending - self.queued

    @property
    def done(self) -> bool:
        return self.status in ("done", "cancelled") or (
            self.status == "running" and self.pending == 0 and self.queued == 0
        )


class Broadcasts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def count(self, spec: BroadcastSpec, default_language: str) -> dict[str, int]:
        """Recipients per channel, for a dry run."""
        return await self.db.run(self._count, spec, default_language)

    def _count(self, spec: BroadcastSpec, default_language: str) -> dict[str, int]:
        counts: Counter[str] = Counter()
        with self.db.sessions() as session:
            for page in audience(session, spec, default_language):
                counts.update(r.channel for r in page)
        return dict(sorted(counts.items()))

    async def create(
        self, spec: BroadcastSpec, default_language: str
    ) -> tuple[int, dict[str, int]]:
        """Store the broadcast and one recipient row per contact (one transaction)."""
        return await self.db.run(self._create, spec, default_language)

    def _create(self, spec: BroadcastSpec, default_language: str) -> tuple[int, dict[str, int]]:
        counts: Counter[str] = Counter()
        with self.db.sessions.begin() as session:
            broadcast = Broadcast(
                text_ar=spec.text_ar,
                text_en=spec.text_en,
                filters=spec.filters(),
                status="scheduled" if spec.at else "running",
                created_by=spec.created_by,
                created_at=utcnow(),
                scheduled_at=spec.at,
            )
            session.add(broadcast)
            session.flush()
            for page in audience(session, spec, default_language):
                if page:
                    session.execute(
                        insert(BroadcastRecipient),
                        [
                            {
                                "broadcast_id": broadcast.id,
                                "contact_id": r.contact_id,
                                "address_id": r.address_id,
                                "channel": r.channel,
                                "language": r.language,
                                "status": "pending",
                            }
                            for r in page
                        ],
                    )
                    counts.update(r.channel for r in page)
            return broadcast.id, dict(sorted(counts.items()))

    # -- sending ----------------------------------------------------------------------------
    async def start(self, broadcast_id: int) -> bool:
        """A scheduled broadcast's time came: running now (False if cancelled meanwhile)."""
        return await self.db.run(self._start, broadcast_id)

    def _start(self, broadcast_id: int) -> bool:
        with self.db.sessions.begin() as session:
            result = session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id, Broadcast.status.in_(("scheduled", "running")))
                .values(status="running")
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_batch(
        self, broadcast_id: int, size: int, profile: Profile, channels: Sequence[str]
    ) -> tuple[int, list[int]]:
        """Turn the next `size` pending recipients into queued messages (or skips), in one
        transaction: a batch claimed twice, by two workers or after a crash, is empty.
        Returns how many recipients it took, and the messages to deliver."""
        return await self.db.run(self._claim_batch, broadcast_id, size, profile, tuple(channels))

    def _claim_batch(
        self, broadcast_id: int, size: int, profile: Profile, channels: tuple[str, ...]
    ) -> tuple[int, list[int]]:
        now = utcnow()
        with self.db.sessions.begin() as session:
            broadcast = session.get(Broadcast, broadcast_id)
            if broadcast is None or broadcast.status != "running":
                return 0, []
            rows = session.execute(
                select(
                    BroadcastRecipient.id,
                    BroadcastRecipient.contact_id,
                    BroadcastRecipient.address_id,
                    BroadcastRecipient.channel,
                    BroadcastRecipient.language,
                    ContactAddress.kind,
                    ContactAddress.stopped_at,
                    Conversation.id,
                    latest_consent(),
                    last_inbound_at(),
                )
                .join(Contact, Contact.id == BroadcastRecipient.contact_id)
                .join(ContactAddress, ContactAddress.id == BroadcastRecipient.address_id)
                .join(Conversation, Conversation.contact_id == BroadcastRecipient.contact_id)
                .where(
                    BroadcastRecipient.broadcast_id == broadcast_id,
                    BroadcastRecipient.status == "pending",
                )
                .order_by(BroadcastRecipient.id)
                .limit(size)
                .with_for_update(skip_locked=True, of=BroadcastRecipient)
            ).all()
            # One statement for the batch's messages, one for its recipients (not two per
            # recipient): the worker claims the next batch while the last one is sending.
            new_messages: list[dict[str, Any]] = []
            messaged: list[int] = []
            recipients: list[dict[str, Any]] = []
            for rid, _contact, address_id, channel, language, kind, stopped, conv, ok, last in rows:
                reason: str | None = None
                message: OutboundMessage | None = None
                if ok is not True:
                    reason = SKIP_OPTED_OUT
                elif stopped is not None:
                    reason = SKIP_STOPPED
                elif channel not in channels:
                    reason = SKIP_CHANNEL_OFF
                else:
                    message, reason = message_for(
                        broadcast, channel, kind, language, last, now, profile
                    )
                if message is None:
                    recipients.append(
                        {"rid": rid, "outcome": "skipped", "reason": reason, "message": None}
                    )
                    continue
                payload = message.to_json()
                payload["broadcast"] = broadcast_id
                new_messages.append(
                    {
                        "conversation_id": conv,
                        "address_id": address_id,
                        "direction": "out",
                        "channel": channel,
                        "body": message.text,
                        "payload": payload,
                        "status": DeliveryStatus.QUEUED.value,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                messaged.append(rid)
            connection = session.connection()
            message_ids: list[int] = []
            if new_messages:
                message_ids = list(connection.execute(_INSERT_MESSAGES, new_messages).scalars())
            recipients.extend(
                {"rid": rid, "outcome": "messaged", "reason": None, "message": message_id}
                for rid, message_id in zip(messaged, message_ids, strict=True)
            )
            if recipients:
                connection.execute(_SETTLE_RECIPIENTS, recipients)
            return len(rows), message_ids

    async def unwanted(self, message_ids: Sequence[int]) -> dict[int, str]:
        """Broadcast messages among `message_ids` that must not go now, with why: the
        contact withdrew consent or stopped the address, or the broadcast was cancelled."""
        return await self.db.run(self._unwanted, list(message_ids))

    def _unwanted(self, message_ids: list[int]) -> dict[int, str]:
        with self.db.reads() as session:
            rows = session.execute(
                select(
                    BroadcastRecipient.message_id,
                    Broadcast.status,
                    ContactAddress.stopped_at,
                    latest_consent(),
                )
                .join(Broadcast, Broadcast.id == BroadcastRecipient.broadcast_id)
                .join(Contact, Contact.id == BroadcastRecipient.contact_id)
                .join(ContactAddress, ContactAddress.id == BroadcastRecipient.address_id)
                .where(BroadcastRecipient.message_id.in_(message_ids))
            ).all()
        unwanted: dict[int, str] = {}
        for message_id, status, stopped, consent in rows:
            if status == "cancelled":
                unwanted[message_id] = SKIP_CANCELLED
            elif consent is not True:
                unwanted[message_id] = SKIP_OPTED_OUT
            elif stopped is not None:
                unwanted[message_id] = SKIP_STOPPED
        return unwanted

    async def skip_messages(self, reasons: dict[int, str]) -> None:
        """Messages that will not go: failed (never sent), their recipients skipped."""
        await self.db.run(self._skip_messages, reasons)

    def _skip_messages(self, reasons: dict[int, str]) -> None:
        now = utcnow()
        with self.db.sessions.begin() as session:
            for message_id, reason in reasons.items():
                session.execute(
                    update(Message)
                    .where(Message.id == message_id, Message.status == DeliveryStatus.QUEUED.value)
                    .values(
                        status=DeliveryStatus.FAILED.value, error_code="skipped", updated_at=now
                    )
                )
                session.execute(
                    update(BroadcastRecipient)
                    .where(BroadcastRecipient.message_id == message_id)
                    .values(status="skipped", skip_reason=reason)
                )

    async def queued_messages(
        self, broadcast_id: int, older_than: float, limit: int = 1000
    ) -> list[int]:
        """Messages of a broadcast still queued `older_than` seconds after they were last
        touched (a crash left them; resumed by the worker's broadcast watch)."""
        cutoff = utcnow() - timedelta(seconds=older_than)
        return await self.db.run(self._queued_messages, broadcast_id, cutoff, limit)

    def _queued_messages(self, broadcast_id: int, cutoff: datetime, limit: int) -> list[int]:
        with self.db.sessions() as session:
            return list(
                session.scalars(
                    select(Message.id)
                    .join(BroadcastRecipient, BroadcastRecipient.message_id == Message.id)
                    .where(
                        BroadcastRecipient.broadcast_id == broadcast_id,
                        Message.status == DeliveryStatus.QUEUED.value,
                        Message.updated_at < cutoff,
                    )
                    .order_by(Message.id)
                    .limit(limit)
                )
            )

    async def mark_unknown(self, message_ids: Sequence[int]) -> None:
        """Sends a crash cut off, that no report settled: visibly unknown, never resent."""
        await self.db.run(self._mark_unknown, list(message_ids))

    def _mark_unknown(self, message_ids: list[int]) -> None:
        with self.db.sessions.begin() as session:
            session.execute(
                update(Message)
                .where(Message.id.in_(message_ids), Message.status == DeliveryStatus.QUEUED.value)
                .values(status=DeliveryStatus.UNKNOWN.value, updated_at=utcnow())
            )

    # -- what managers see ------------------------------------------------------------------
    async def running(self) -> list[int]:
        return await self.db.run(self._running)

    def _running(self) -> list[int]:
        with self.db.sessions() as session:
            return list(session.scalars(select(Broadcast.id).where(Broadcast.status == "running")))

    async def counts(self, broadcast_id: int) -> BroadcastCounts | None:
        return await self.db.run(self._counts, broadcast_id)

    def _counts(self, broadcast_id: int) -> BroadcastCounts | None:
        # A count over every recipient: under the write lock it would stop every writer.
        with self.db.reads() as session:
            status = session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
            if status is None:
                return None
            counts = BroadcastCounts(broadcast_id, status)
            for recipient_status, reason, message_status, error, n in session.execute(
                select(
                    BroadcastRecipient.status,
                    BroadcastRecipient.skip_reason,
                    Message.status,
                    Message.error_code,
                    func.count(),
                )
                .outerjoin(Message, Message.id == BroadcastRecipient.message_id)
                .where(BroadcastRecipient.broadcast_id == broadcast_id)
                .group_by(
                    BroadcastRecipient.status,
                    BroadcastRecipient.skip_reason,
                    Message.status,
                    Message.error_code,
                )
            ):
                counts.total += n
                if recipient_status == "pending":
                    counts.pending += n
                elif recipient_status == "skipped":
                    key = reason or "skipped"
                    counts.skipped[key] = counts.skipped.get(key, 0) + n
                elif message_status == DeliveryStatus.UNKNOWN.value or (
                    message_status == DeliveryStatus.FAILED.value and error == UNKNOWN
                ):
                    counts.unknown += n
                elif message_status == DeliveryStatus.SENDING.value:
                    counts.queued += n  # not finished: its worker holds it
                elif message_status in ("queued", "sent", "delivered", "read", "failed"):
                    setattr(counts, message_status, getattr(counts, message_status) + n)
            return counts

    async def finish_if_done(self, broadcast_id: int) -> bool:
        counts = await self.counts(broadcast_id)
        if counts is None or counts.status != "running" or counts.pending or counts.queued:
            return False
        await self.db.run(self._set_status, broadcast_id, "done", ("running",))
        return True

    async def cancel(self, broadcast_id: int) -> bool:
        """Stop a scheduled or running broadcast: nothing more of it is sent."""
        return await self.db.run(
            self._set_status, broadcast_id, "cancelled", ("scheduled", "running")
        )

    def _set_status(self, broadcast_id: int, status: str, current: tuple[str, ...]) -> bool:
        with self.db.sessions.begin() as session:
            result = session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id, Broadcast.status.in_(current))
                .values(status=status, finished_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def summaries(self, limit: int = 50) -> list[BroadcastSummary]:
        return await self.db.run(self._summaries, limit)

    def _summaries(self, limit: int) -> list[BroadcastSummary]:
        recipients = (
            select(func.count(BroadcastRecipient.id))
            .where(BroadcastRecipient.broadcast_id == Broadcast.id)
            .correlate(Broadcast)
            .scalar_subquery()
        )
        with self.db.sessions() as session:
            return [
                BroadcastSummary(*row)
                for row in session.execute(
                    select(
                        Broadcast.id,
                        Broadcast.status,
                        Broadcast.created_at,
                        Broadcast.scheduled_at,
                        recipients,
                        Broadcast.text_ar,
                        Broadcast.text_en,
                        Broadcast.created_by,
                    )
                    .order_by(Broadcast.id.desc())
                    .limit(limit)
                )
            ]
