"""Reads and writes of contacts, conversations and messages, one transaction per step.

The router records an inbound message in its own transaction before anything else happens,
so a crash later never loses what the beneficiary wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.crypto import Cipher
from bot.db import AuditEntry, ConsentRecord, Contact, ContactAddress, Conversation, Message
from bot.effects import Audit, Effect, RecordConsent, SetLanguage
from bot.models import AddressKind, DeliveryStatus, InboundMessage, OutboundMessage, StatusUpdate
from bot.models import utcnow as _now

RECEIVED = "received"
HANDLED = "handled"


@dataclass(frozen=True)
class InboundRecord:
    """Where a recorded inbound message belongs."""

    message_id: int
    contact_id: int
    address_id: int
    conversation_id: int
    language: str | None
    is_new_contact: bool


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


class Store:
    """The project's storage operations over one async session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: Cipher) -> None:
        self.sessions = sessions
        self.cipher = cipher

    async def ping(self) -> None:
        async with self.sessions() as session:
            await session.execute(text("SELECT 1"))

    async def record_inbound(self, msg: InboundMessage) -> InboundRecord | None:
        """Store the message (creating the contact on first contact).

        Returns None for a duplicate that was already handled; a duplicate whose first copy
        was recorded but never handled (a crash mid-turn) is returned again to be handled.
        """
        for _attempt in range(3):
            try:
                return await self._record_inbound_once(msg)
            except IntegrityError:
                # Either a provider retry of the same message, or two first messages from a
                # new address racing to create the contact: the next attempt tells which.
                existing = await self._existing_inbound(msg)
                if existing is not None:
                    record, unhandled = existing
                    return record if unhandled else None
        raise RuntimeError("could not record inbound message after retries")

    async def _existing_inbound(self, msg: InboundMessage) -> tuple[InboundRecord, bool] | None:
        """The stored copy of `msg` and whether it still awaits handling."""
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(
                        Message.id,
                        Message.status,
                        Message.address_id,
                        Message.conversation_id,
                        Conversation.contact_id,
                        Contact.language,
                    )
                    .join(Conversation, Conversation.id == Message.conversation_id)
                    .join(Contact, Contact.id == Conversation.contact_id)
                    .where(
                        Message.channel == msg.channel,
                        Message.direction == "in",
                        Message.provider_id == msg.provider_id,
                    )
                )
            ).first()
        if row is None:
            return None
        message_id, status, address_id, conversation_id, contact_id, language = row
        record = InboundRecord(message_id, contact_id, address_id, conversation_id, language, False)
        return record, status == RECEIVED

    async def _record_inbound_once(self, msg: InboundMessage) -> InboundRecord:
        address_hash = self.cipher.lookup_hash(msg.address)
        async with self.sessions() as session, session.begin():
            row = (
                await session.execute(
                    select(
                        ContactAddress.id,
                        ContactAddress.contact_id,
                        Contact.language,
                        Conversation.id,
                    )
                    .join(Contact, Contact.id == ContactAddress.contact_id)
                    .join(Conversation, Conversation.contact_id == Contact.id)
                    .where(
                        ContactAddress.kind == msg.address_kind.value,
                        ContactAddress.address_hash == address_hash,
                    )
                )
            ).first()
            is_new = row is None
            if row is None:
                contact = Contact(display_name=msg.sender_name)
                session.add(contact)
                await session.flush()
                address = ContactAddress(
                    contact_id=contact.id,
                    kind=msg.address_kind.value,
                    address=msg.address,
                    address_hash=address_hash,
                )
                session.add(address)
                await session.flush()
                conversation = Conversation(
                    contact_id=contact.id, state=None, last_address_id=address.id
                )
                session.add(conversation)
                await session.flush()
                address_id, contact_id, language, conversation_id = (
                    address.id,
                    contact.id,
                    None,
                    conversation.id,
                )
            else:
                address_id, contact_id, language, conversation_id = row
            message = Message(
                conversation_id=conversation_id,
                address_id=address_id,
                direction="in",
                channel=msg.channel,
                provider_id=msg.provider_id,
                body=msg.text,
                payload=_inbound_payload(msg),
                status=RECEIVED,
                created_at=msg.received_at,
            )
            session.add(message)
            await session.flush()
            return InboundRecord(
                message.id, contact_id, address_id, conversation_id, language, is_new
            )

    async def load_state(self, conversation_id: int) -> dict[str, Any] | None:
        async with self.sessions() as session:
            state: dict[str, Any] | None = await session.scalar(
                select(Conversation.state).where(Conversation.id == conversation_id)
            )
            return state

    async def save_turn(
        self,
        record: InboundRecord,
        channel: str,
        state: dict[str, Any],
        replies: list[OutboundMessage],
        effects: list[Effect],
    ) -> list[int]:
        """Persist the new state, the effects and the queued replies atomically."""
        now = _now()
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Conversation)
                .where(Conversation.id == record.conversation_id)
                .values(state=state, last_address_id=record.address_id, updated_at=now)
            )
            await session.execute(
                update(Message)
                .where(Message.id == record.message_id)
                .values(status=HANDLED, updated_at=now)
            )
            for effect in effects:
                await self._apply(session, record, channel, effect)
            rows = [
                Message(
                    conversation_id=record.conversation_id,
                    address_id=record.address_id,
                    direction="out",
                    channel=channel,
                    body=reply.text,
                    payload=reply.to_json(),
                    status=DeliveryStatus.QUEUED.value,
                    created_at=now,
                    updated_at=now,
                )
                for reply in replies
            ]
            session.add_all(rows)
            await session.flush()
            return [row.id for row in rows]

    async def _apply(
        self, session: AsyncSession, record: InboundRecord, channel: str, effect: Effect
    ) -> None:
        if isinstance(effect, SetLanguage):
            await session.execute(
                update(Contact)
                .where(Contact.id == record.contact_id)
                .values(language=effect.language)
            )
        elif isinstance(effect, RecordConsent):
            session.add(
                ConsentRecord(
                    contact_id=record.contact_id,
                    purpose=effect.purpose,
                    granted=effect.granted,
                    channel=channel,
                    address_id=record.address_id,
                    source=effect.source,
                    wording_version=effect.wording_version,
                )
            )
        elif isinstance(effect, Audit):
            session.add(
                AuditEntry(
                    actor=f"contact:{record.contact_id}",
                    action=effect.action,
                    subject_type="contact",
                    subject_id=record.contact_id,
                    details=effect.details,
                )
            )

    async def consent(self, contact_id: int, purpose: str) -> bool | None:
        """The contact's latest answer for a purpose; None if never asked."""
        async with self.sessions() as session:
            granted: bool | None = await session.scalar(
                select(ConsentRecord.granted)
                .where(ConsentRecord.contact_id == contact_id, ConsentRecord.purpose == purpose)
                .order_by(ConsentRecord.id.desc())
                .limit(1)
            )
            return granted

    async def delivery(self, message_id: int) -> Delivery | None:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(Message, ContactAddress.kind, ContactAddress.address)
                    .join(ContactAddress, ContactAddress.id == Message.address_id)
                    .where(Message.id == message_id, Message.direction == "out")
                )
            ).first()
        if row is None:
            return None
        message, kind, address = row
        return Delivery(
            message_id=message.id,
            channel=message.channel,
            address_kind=AddressKind(kind),
            address=address,
            message=OutboundMessage.from_json(message.payload),
            status=DeliveryStatus(message.status),
            attempts=message.attempts,
        )

    async def mark_attempt(
        self,
        message_id: int,
        status: DeliveryStatus,
        provider_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """Record one send attempt's outcome on the stored message."""
        values: dict[str, Any] = {
            "status": status.value,
            "attempts": Message.attempts + 1,
            "updated_at": _now(),
            "error_code": error_code,
        }
        if provider_id is not None:
            values["provider_id"] = provider_id
        async with self.sessions() as session, session.begin():
            await session.execute(update(Message).where(Message.id == message_id).values(**values))

    async def apply_status(self, report: StatusUpdate) -> bool:
        """Move a sent message forward to the reported status; False if unknown message."""
        async with self.sessions() as session, session.begin():
            message = await session.scalar(
                select(Message).where(
                    Message.channel == report.channel,
                    Message.direction == "out",
                    Message.provider_id == report.provider_id,
                )
            )
            if message is None:
                return False
            if report.status.rank >= DeliveryStatus(message.status).rank:
                message.status = report.status.value
                message.error_code = report.error_code
                message.updated_at = report.at
            return True

    async def stop_address(self, message_id: int) -> None:
        """The provider says this recipient opted out: stop the address the message went to."""
        async with self.sessions() as session, session.begin():
            address_id = await session.scalar(
                select(Message.address_id).where(Message.id == message_id)
            )
            await session.execute(
                update(ContactAddress)
                .where(ContactAddress.id == address_id, ContactAddress.stopped_at.is_(None))
                .values(stopped_at=_now())
            )

    async def count_messages(self, direction: str, status: str | None = None) -> int:
        async with self.sessions() as session:
            query = select(func.count(Message.id)).where(Message.direction == direction)
            if status is not None:
                query = query.where(Message.status == status)
            return int(await session.scalar(query) or 0)


def _inbound_payload(msg: InboundMessage) -> dict[str, Any]:
    return {
        "button_id": msg.button_id,
        "media": [
            {"content_type": m.content_type, "url": m.url, "filename": m.filename}
            for m in msg.media
        ],
    }
