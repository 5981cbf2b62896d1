"""Outbound messages as the worker and the status webhooks see them: the delivery to make,
each attempt's outcome, the provider's status reports (an opted-out recipient stopped, a
throttled message claimed for one new send), the approved template that replaces a refused
reply, and the sweep of replies left queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, or_, select, update

from bot.db import Database
from bot.models import (
    AddressKind,
    DeliveryStatus,
    OutboundMessage,
    StatusUpdate,
    Template,
)
from bot.models import utcnow as _now
from bot.storage import delivery_reports
from bot.storage.inbound_rows import InboundRecord, outbound_values
from bot.tables import Base, ContactAddress, Message

_messages = Base.metadata.tables["messages"]

# A message a provider gave up on for a passing reason (throttling) is sent again at most
# this many times in all, so a limit that never lifts still ends in a visible failure.
MAX_SEND_ATTEMPTS = 6
# The statuses a send's own outcome may still overwrite (later ones came from a report).
UNSETTLED = (
    DeliveryStatus.QUEUED.value,
    DeliveryStatus.SENDING.value,
    DeliveryStatus.UNKNOWN.value,
)


@dataclass(frozen=True)
class Delivery:
    """An outbound message as the worker needs it to send."""

    message_id: int
    channel: str
    address_kind: AddressKind
    address: str
    message: OutboundMessage
    status: DeliveryStatus
    attempts: int
    # The provider ids of the parts an earlier attempt sent (a retry sends the rest).
    sent_parts: tuple[str, ...] = ()


class Deliveries:
    """Delivery rows, attempts and statuses; each call is one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def delivery(self, message_id: int) -> Delivery | None:
        return await self.db.run(self._delivery, message_id)

    def _delivery(self, message_id: int) -> Delivery | None:
        with self.db.sessions() as session:
            row = session.execute(
                select(Message, ContactAddress.kind, ContactAddress.address)
                .join(ContactAddress, ContactAddress.id == Message.address_id)
                .where(Message.id == message_id, Message.direction == "out")
            ).first()
            if row is None:
                return None
            message, kind, address = row
            already = delivery_reports.sent_parts(session, [message.id]).get(message.id, ())
        return Delivery(
            message_id=message.id,
            channel=message.channel,
            address_kind=AddressKind(kind),
            address=address,
            message=OutboundMessage.from_json(message.payload),
            status=DeliveryStatus(message.status),
            attempts=message.attempts,
            sent_parts=already,
        )

    async def mark_attempt(
        self,
        message_id: int,
        status: DeliveryStatus,
        provider_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """Record one send attempt's outcome on the stored message."""
        in_flight = Message.status.in_(UNSETTLED)
        values: dict[str, Any] = {
            # a report that came first (the provider calls back fast) is not undone
            "status": case((in_flight, status.value), else_=Message.status),
            "attempts": Message.attempts + 1,
            "updated_at": _now(),
            "error_code": case((in_flight, error_code), else_=Message.error_code),
        }
        if provider_id is not None:
            values["provider_id"] = provider_id
        await self.db.run(self._update_message, message_id, values)

    def _update_message(self, message_id: int, values: dict[str, Any]) -> None:
        with self.db.sessions.begin() as session:
            session.execute(update(Message).where(Message.id == message_id).values(**values))

    async def apply_status(self, report: StatusUpdate) -> bool:
        """Move a sent message forward to the reported status; False if unknown message."""
        return (await self.settle(report)).known

    async def settle(self, report: StatusUpdate) -> delivery_reports.Applied:
        """Apply the report; what it did says whether a split message goes on sending."""
        return await self.db.run(self._apply_status, report)

    def _apply_status(self, report: StatusUpdate) -> delivery_reports.Applied:
        with self.db.sessions.begin() as session:
            return delivery_reports.apply(session, report)

    async def claim_resend(self, report: StatusUpdate) -> int | None:
        """A report that the provider gave up on a sent message for a passing reason
        (throttling): put the message back in the queue for one new send and return its id.
        The claim is one conditional UPDATE that also forgets the refused provider id, so a
        repeated report finds nothing and the message is never sent twice. None when the
        message is unknown, already claimed, no longer just sent, or out of attempts (the
        report then fails it like any other)."""
        if not report.retried:
            return None
        return await self.db.run(self._claim_resend, report)

    def _claim_resend(self, report: StatusUpdate) -> int | None:
        with self.db.sessions.begin() as session:
            found = delivery_reports.find(session, report)
            if found is None or found[1] is not None:
                return None  # unknown, or one part of several: its report fails the message
            message_id = found[0].id
            connection = session.connection()
            claimed = connection.execute(
                update(_messages)
                .where(
                    _messages.c.id == message_id,
                    _messages.c.status.in_(
                        [
                            DeliveryStatus.SENDING.value,
                            DeliveryStatus.UNKNOWN.value,
                            DeliveryStatus.SENT.value,
                        ]
                    ),
                    # this send's report (an earlier one's finds another id, or none yet)
                    or_(
                        _messages.c.provider_id == report.provider_id,
                        _messages.c.provider_id.is_(None),
                    ),
                    _messages.c.attempts < MAX_SEND_ATTEMPTS,
                )
                .values(
                    status=DeliveryStatus.QUEUED.value,
                    provider_id=None,
                    error_code=report.error_code,
                    updated_at=_now(),
                )
                .returning(_messages.c.id)
            ).first()
            return int(claimed[0]) if claimed is not None else None

    async def requeue_as_template(
        self, channel: str, provider_id: str, template: Template
    ) -> int | None:
        """Store the approved template to go where a refused message went; None when that
        message is unknown or was itself a template (never loop)."""
        return await self.db.run(self._requeue_as_template, channel, provider_id, template)

    def _requeue_as_template(
        self, channel: str, provider_id: str, template: Template
    ) -> int | None:
        now = _now()
        with self.db.engine.begin() as connection:
            row = connection.execute(
                select(
                    Message.conversation_id, Message.address_id, Message.body, Message.payload
                ).where(
                    Message.channel == channel,
                    Message.direction == "out",
                    Message.provider_id == provider_id,
                )
            ).first()
            if row is None or (row.payload or {}).get("template"):
                return None
            record = InboundRecord(0, 0, row.address_id, row.conversation_id, None, False)
            reply = OutboundMessage(text=row.body or "", template=template)
            message_id: int = connection.scalar(
                insert(_messages).returning(_messages.c.id),
                outbound_values(record, channel, now, reply),
            )
            return message_id

    async def stop_address(self, message_id: int) -> None:
        """The provider says this recipient opted out: stop the address the message went to."""
        await self.db.run(self._stop_address, message_id)

    def _stop_address(self, message_id: int) -> None:
        with self.db.sessions.begin() as session:
            address_id = session.scalar(select(Message.address_id).where(Message.id == message_id))
            session.execute(
                update(ContactAddress)
                .where(ContactAddress.id == address_id, ContactAddress.stopped_at.is_(None))
                .values(stopped_at=_now())
            )

    async def stranded_outbound(self, older_than: timedelta, limit: int = 500) -> list[int]:
        """Replies still queued after `older_than`: candidates for the outbox sweep."""
        return await self.db.run(self._stranded_outbound, _now() - older_than, limit)

    def _stranded_outbound(self, cutoff: datetime, limit: int) -> list[int]:
        with self.db.sessions() as session:
            return list(
                session.scalars(
                    select(Message.id)
                    .where(
                        Message.direction == "out",
                        Message.status == DeliveryStatus.QUEUED.value,
                        Message.updated_at < cutoff,
                    )
                    .order_by(Message.id)
                    .limit(limit)
                )
            )

    async def claim(self, message_ids: list[int]) -> set[int]:
        """Claim queued messages for sending, before their provider is called: the ids
        that were still queued (a second job, a resumed broadcast, finds them taken)."""
        return await self.db.run(self._claim, message_ids)

    def _claim(self, message_ids: list[int]) -> set[int]:
        if not message_ids:
            return set()
        with self.db.engine.begin() as connection:
            rows = connection.execute(
                update(_messages)
                .where(
                    _messages.c.id.in_(message_ids),
                    _messages.c.direction == "out",
                    _messages.c.status == DeliveryStatus.QUEUED.value,
                )
                .values(status=DeliveryStatus.SENDING.value, updated_at=_now())
                .returning(_messages.c.id)
            )
            return {int(row[0]) for row in rows}

    async def strand_in_doubt(self, older_than: timedelta, limit: int = 500) -> list[int]:
        """Sends claimed over `older_than` ago and never settled: their worker died with the
        request out. They become `unknown` (never sent again); a report still settles them."""
        return await self.db.run(self._strand_in_doubt, _now() - older_than, limit)

    def _strand_in_doubt(self, cutoff: datetime, limit: int) -> list[int]:
        with self.db.engine.begin() as connection:
            ids = list(
                connection.scalars(
                    select(_messages.c.id)
                    .where(
                        _messages.c.direction == "out",
                        _messages.c.status == DeliveryStatus.SENDING.value,
                        _messages.c.updated_at < cutoff,
                    )
                    .limit(limit)
                )
            )
            if ids:
                connection.execute(
                    update(_messages)
                    .where(
                        _messages.c.id.in_(ids),
                        _messages.c.status == DeliveryStatus.SENDING.value,
                    )
                    .values(
                        status=DeliveryStatus.UNKNOWN.value,
                        attempts=_messages.c.attempts + 1,
                        updated_at=_now(),
                    )
                )
            return ids

    async def count_messages(self, direction: str, status: str | None = None) -> int:
        return await self.db.run(self._count_messages, direction, status)

    def _count_messages(self, direction: str, status: str | None) -> int:
        with self.db.sessions() as session:
            query = select(func.count(Message.id)).where(Message.direction == direction)
            if status is not None:
                query = query.where(Message.status == status)
            return int(session.scalar(query) or 0)
