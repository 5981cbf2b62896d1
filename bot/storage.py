"""Reads and writes of contacts, conversations and messages, one transaction per step.

Each public method is awaited by the router or worker and runs as one plain transaction on
the database threads (`bot.db.Database`). The router records an inbound message in its own
transaction before anything else happens, so a crash later never loses what was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.crypto import Cipher
from bot.db import (
    AuditEntry,
    Base,
    ConsentRecord,
    Contact,
    ContactAddress,
    Conversation,
    Database,
    Message,
)
from bot.effects import Audit, Effect, RecordConsent, SetLanguage
from bot.models import (
    AddressKind,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
    Template,
)
from bot.models import utcnow as _now

RECEIVED = "received"
HANDLED = "handled"

# The inbound path's statements, built once: building and cache-keying a statement costs more
# than running it on SQLite, and these run for every message.
_messages = Base.metadata.tables["messages"]
_contacts = Base.metadata.tables["contacts"]
_addresses = Base.metadata.tables["contact_addresses"]
_conversations = Base.metadata.tables["conversations"]


def _address_lookup(*conditions: Any) -> Any:
    """The contact, conversation and state behind an address; the first inbound query."""
    return (
        select(
            ContactAddress.id,
            ContactAddress.contact_id,
            Contact.language,
            Conversation.id,
            Conversation.state,
            ContactAddress.stopped_at,
        )
        .join(Contact, Contact.id == ContactAddress.contact_id)
        .join(Conversation, Conversation.contact_id == Contact.id)
        .where(*conditions)
    )


_FIND_ADDRESS = _address_lookup(
    ContactAddress.kind == bindparam("kind"),
    ContactAddress.address_hash == bindparam("address_hash"),
)
PHONE_KINDS = ("whatsapp", "sms")
_FIND_ADDRESS_ANY_KIND = _address_lookup(
    ContactAddress.kind.in_(bindparam("kinds", expanding=True)),
    ContactAddress.address_hash == bindparam("address_hash"),
).limit(1)
_INSERT_CONTACT = insert(_contacts).returning(_contacts.c.id)
_INSERT_ADDRESS = insert(_addresses).returning(_addresses.c.id)
_INSERT_CONVERSATION = insert(_conversations).returning(_conversations.c.id)
_INSERT_MESSAGE = insert(_messages).returning(_messages.c.id)
_SAVE_STATE = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(
        state=bindparam("state"),
        last_address_id=bindparam("address_id"),
        updated_at=bindparam("now"),
    )
)
_MARK_HANDLED = (
    update(_messages)
    .where(_messages.c.id == bindparam("message_id"))
    .values(status=HANDLED, updated_at=bindparam("now"))
)


@dataclass(frozen=True)
class InboundRecord:
    """Where a recorded inbound message belongs, and the conversation's state at that time."""

    message_id: int
    contact_id: int
    address_id: int
    conversation_id: int
    language: str | None
    is_new_contact: bool
    state: dict[str, Any] | None = field(default=None, compare=False)


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
    """The project's storage operations."""

    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher

    @property
    def sessions(self) -> Any:
        return self.db.sessions

    async def ping(self) -> None:
        await self.db.run(self._ping)

    def _ping(self) -> None:
        with self.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- inbound ----------------------------------------------------------------------------
    async def record_inbound(self, msg: InboundMessage) -> InboundRecord | None:
        """Store the message (creating the contact on first contact).

        Returns None for a duplicate that was already handled; a duplicate whose first copy
        was recorded but never handled (a crash mid-turn) is returned again to be handled.
        """
        return await self.db.run(self._record_inbound, msg, self.cipher.lookup_hash(msg.address))

    def _record_inbound(self, msg: InboundMessage, address_hash: str) -> InboundRecord | None:
        for _attempt in range(3):
            try:
                with self.db.engine.begin() as connection:
                    return _insert_inbound(connection, msg, address_hash)
            except IntegrityError:
                # A provider retry of the same message, or two first messages from a new
                # address racing to create the contact: the next look tells which.
                with self.db.sessions() as session:
                    existing = self._existing_inbound(session, msg)
                if existing is not None:
                    record, unhandled = existing
                    return record if unhandled else None
        raise RuntimeError("could not record inbound message after retries")

    def _existing_inbound(
        self, session: Session, msg: InboundMessage
    ) -> tuple[InboundRecord, bool] | None:
        """The stored copy of `msg` and whether it still awaits handling."""
        row = session.execute(
            select(
                Message.id,
                Message.status,
                Message.address_id,
                Message.conversation_id,
                Conversation.contact_id,
                Contact.language,
                Conversation.state,
            )
            .join(Conversation, Conversation.id == Message.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(
                Message.channel == msg.channel,
                Message.direction == "in",
                Message.provider_id == msg.provider_id,
            )
        ).first()
        if row is None:
            return None
        message_id, status, address_id, conversation_id, contact_id, language, state = row
        record = InboundRecord(
            message_id, contact_id, address_id, conversation_id, language, False, state
        )
        return record, status == RECEIVED

    async def load_state(self, conversation_id: int) -> dict[str, Any] | None:
        return await self.db.run(self._load_state, conversation_id)

    def _load_state(self, conversation_id: int) -> dict[str, Any] | None:
        with self.db.sessions() as session:
            state: dict[str, Any] | None = session.scalar(
                select(Conversation.state).where(Conversation.id == conversation_id)
            )
            return state

    # -- a handled turn ---------------------------------------------------------------------
    async def save_turn(
        self,
        record: InboundRecord,
        channel: str,
        state: dict[str, Any],
        replies: list[OutboundMessage],
        effects: list[Effect],
    ) -> list[int]:
        """Persist the new state, the effects and the queued replies atomically."""
        return await self.db.run(self._save_turn, record, channel, state, replies, effects)

    def _save_turn(
        self,
        record: InboundRecord,
        channel: str,
        state: dict[str, Any],
        replies: list[OutboundMessage],
        effects: list[Effect],
    ) -> list[int]:
        now = _now()
        with self.db.engine.begin() as connection:
            connection.execute(
                _SAVE_STATE,
                {
                    "conversation_id": record.conversation_id,
                    "state": state,
                    "address_id": record.address_id,
                    "now": now,
                },
            )
            connection.execute(_MARK_HANDLED, {"message_id": record.message_id, "now": now})
            if effects:
                with Session(bind=connection) as session:
                    for effect in effects:
                        _apply(session, record, channel, effect)
                    session.flush()
            return [
                _insert_message(connection, record, channel, "out", now, reply) for reply in replies
            ]

    async def consent(self, contact_id: int, purpose: str) -> bool | None:
        """The contact's latest answer for a purpose; None if never asked."""
        return await self.db.run(self._consent, contact_id, purpose)

    def _consent(self, contact_id: int, purpose: str) -> bool | None:
        with self.db.sessions() as session:
            granted: bool | None = session.scalar(
                select(ConsentRecord.granted)
                .where(ConsentRecord.contact_id == contact_id, ConsentRecord.purpose == purpose)
                .order_by(ConsentRecord.id.desc())
                .limit(1)
            )
            return granted

    # -- outbound ---------------------------------------------------------------------------
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
        await self.db.run(self._update_message, message_id, values)

    def _update_message(self, message_id: int, values: dict[str, Any]) -> None:
        with self.db.sessions.begin() as session:
            session.execute(update(Message).where(Message.id == message_id).values(**values))

    async def apply_status(self, report: StatusUpdate) -> bool:
        """Move a sent message forward to the reported status; False if unknown message."""
        return await self.db.run(self._apply_status, report)

    def _apply_status(self, report: StatusUpdate) -> bool:
        with self.db.sessions.begin() as session:
            message = session.scalar(
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
            return _insert_message(connection, record, channel, "out", now, reply)

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

    async def count_messages(self, direction: str, status: str | None = None) -> int:
        return await self.db.run(self._count_messages, direction, status)

    def _count_messages(self, direction: str, status: str | None) -> int:
        with self.db.sessions() as session:
            query = select(func.count(Message.id)).where(Message.direction == direction)
            if status is not None:
                query = query.where(Message.status == status)
            return int(session.scalar(query) or 0)


def _insert_inbound(
    connection: Connection, msg: InboundMessage, address_hash: str
) -> InboundRecord:
    row = connection.execute(
        _FIND_ADDRESS, {"kind": msg.address_kind.value, "address_hash": address_hash}
    ).first()
    is_new = row is None
    if row is None and msg.address_kind.value in PHONE_KINDS:
        # The same phone on WhatsApp and SMS is one beneficiary: join their contact.
        row = _join_same_phone(connection, msg, address_hash)
        is_new = False if row is not None else is_new
    if row is None:
        now = _now()
        contact_id = connection.scalar(
            _INSERT_CONTACT,
            {
                "created_at": now,
                "language": None,
                "display_name": msg.sender_name,
                "national_id": None,
                "national_id_hash": None,
            },
        )
        address_id = connection.scalar(
            _INSERT_ADDRESS,
            {
                "contact_id": contact_id,
                "kind": msg.address_kind.value,
                "address": msg.address,
                "address_hash": address_hash,
                "created_at": now,
                "stopped_at": None,
            },
        )
        conversation_id = connection.scalar(
            _INSERT_CONVERSATION,
            {
                "contact_id": contact_id,
                "state": None,
                "last_address_id": address_id,
                "updated_at": now,
            },
        )
        language, state = None, None
    else:
        address_id, contact_id, language, conversation_id, state, stopped_at = row
        if stopped_at is not None:
            # They write again (unblocked the bot, or opted back in at the provider).
            connection.execute(
                update(ContactAddress)
                .where(ContactAddress.id == address_id)
                .values(stopped_at=None)
            )
    assert contact_id is not None and address_id is not None and conversation_id is not None
    record = InboundRecord(0, contact_id, address_id, conversation_id, language, is_new, state)
    message_id = connection.scalar(
        _INSERT_MESSAGE,
        {
            "conversation_id": conversation_id,
            "address_id": address_id,
            "direction": "in",
            "channel": msg.channel,
            "provider_id": msg.provider_id,
            "body": msg.text,
            "payload": _inbound_payload(msg),
            "status": RECEIVED,
            "error_code": None,
            "attempts": 0,
            "created_at": msg.received_at,
            "updated_at": msg.received_at,
        },
    )
    assert message_id is not None
    return replace(record, message_id=message_id)


def _join_same_phone(connection: Connection, msg: InboundMessage, address_hash: str) -> Any:
    other_kinds = [kind for kind in PHONE_KINDS if kind != msg.address_kind.value]
    known = connection.execute(
        _FIND_ADDRESS_ANY_KIND, {"kinds": other_kinds, "address_hash": address_hash}
    ).first()
    if known is None:
        return None
    _, contact_id, language, conversation_id, state, _stopped = known
    address_id = connection.scalar(
        _INSERT_ADDRESS,
        {
            "contact_id": contact_id,
            "kind": msg.address_kind.value,
            "address": msg.address,
            "address_hash": address_hash,
            "created_at": _now(),
            "stopped_at": None,
        },
    )
    return address_id, contact_id, language, conversation_id, state, None


def _insert_message(
    connection: Connection,
    record: InboundRecord,
    channel: str,
    direction: str,
    now: datetime,
    reply: OutboundMessage,
) -> int:
    message_id = connection.scalar(
        _INSERT_MESSAGE,
        {
            "conversation_id": record.conversation_id,
            "address_id": record.address_id,
            "direction": direction,
            "channel": channel,
            "provider_id": None,
            "body": reply.text,
            "payload": reply.to_json(),
            "status": DeliveryStatus.QUEUED.value,
            "error_code": None,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    assert message_id is not None
    return message_id


def _apply(session: Session, record: InboundRecord, channel: str, effect: Effect) -> None:
    if isinstance(effect, SetLanguage):
        session.execute(
            update(Contact).where(Contact.id == record.contact_id).values(language=effect.language)
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


def _inbound_payload(msg: InboundMessage) -> dict[str, Any]:
    return {
        "button_id": msg.button_id,
        "media": [
            {
                "content_type": m.content_type,
                "url": m.url,
                "filename": m.filename,
                "stored_path": m.stored_path,
            }
            for m in msg.media
        ],
    }
