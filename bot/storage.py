"""Reads and writes of contacts, conversations and messages, one transaction per step.

Each public method is awaited by the router or worker and runs as one plain transaction on
the database threads (`bot.db.Database`). The router records an inbound message in its own
transaction before anything else happens, so a crash later never loses what was written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.engine import Dialect

from bot.batching import Batcher
from bot.crypto import Cipher
from bot.db import (
    Base,
    ConsentRecord,
    ContactAddress,
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
from bot.prepared import Prepared

log = logging.getLogger(__name__)

RECEIVED = "received"
HANDLED = "handled"

# The inbound path's statements: built once, compiled per dialect into `Prepared` statements
# (see bot/prepared.py for why they skip SQLAlchemy's execution layer).
_messages = Base.metadata.tables["messages"]
_contacts = Base.metadata.tables["contacts"]
_addresses = Base.metadata.tables["contact_addresses"]
_conversations = Base.metadata.tables["conversations"]

_FIND_ADDRESS = (
    select(
        _addresses.c.id,
        _addresses.c.contact_id,
        _contacts.c.language,
        _conversations.c.id,
        _addresses.c.stopped_at,
        _conversations.c.state,
        _conversations.c.updated_at,
    )
    .join(_contacts, _contacts.c.id == _addresses.c.contact_id)
    .join(_conversations, _conversations.c.contact_id == _contacts.c.id)
    .where(
        _addresses.c.kind == bindparam("kind"),
        _addresses.c.address_hash == bindparam("address_hash"),
    )
)
PHONE_KINDS = ("whatsapp", "sms")
_UNSTOP_ADDRESS = (
    update(_addresses)
    .where(_addresses.c.id == bindparam("address_id"))
    .values(stopped_at=bindparam("stopped_at"))
)
_FIND_INBOUND = (
    select(
        _messages.c.id,
        _messages.c.status,
        _messages.c.address_id,
        _messages.c.conversation_id,
        _conversations.c.contact_id,
        _contacts.c.language,
    )
    .join(_conversations, _conversations.c.id == _messages.c.conversation_id)
    .join(_contacts, _contacts.c.id == _conversations.c.contact_id)
    .where(
        _messages.c.channel == bindparam("channel"),
        _messages.c.direction == "in",
        _messages.c.provider_id == bindparam("provider_id"),
    )
)
_HANDOFF_STATUS = select(Base.metadata.tables["handoffs"].c.status).where(
    Base.metadata.tables["handoffs"].c.id == bindparam("handoff_id")
)
_SET_LANGUAGE = (
    update(_contacts)
    .where(_contacts.c.id == bindparam("contact_id"))
    .values(language=bindparam("language"))
)
_LOAD_STATE = select(_conversations.c.state).where(
    _conversations.c.id == bindparam("conversation_id")
)
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
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)


def _prepared_insert(table: Any, dialect: Dialect) -> Prepared:
    """An INSERT of every column but the id, returning the id."""
    columns = [column.key for column in table.columns if column.key != "id"]
    return Prepared(insert(table).returning(table.c.id), dialect, columns)


class InboundStatements:
    """The inbound path's statements compiled for one database."""

    def __init__(self, dialect: Dialect) -> None:
        self.find_address = Prepared(_FIND_ADDRESS, dialect)
        self.find_inbound = Prepared(_FIND_INBOUND, dialect)
        self.unstop_address = Prepared(_UNSTOP_ADDRESS, dialect)
        self.load_state = Prepared(_LOAD_STATE, dialect)
        self.handoff_status = Prepared(_HANDOFF_STATUS, dialect)
        self.save_state = Prepared(_SAVE_STATE, dialect)
        self.mark_handled = Prepared(_MARK_HANDLED, dialect)
        self.insert_contact = _prepared_insert(_contacts, dialect)
        self.insert_address = _prepared_insert(_addresses, dialect)
        self.insert_conversation = _prepared_insert(_conversations, dialect)
        self.insert_message = _prepared_insert(_messages, dialect)
        self.set_language = Prepared(_SET_LANGUAGE, dialect)
        self.insert_consent = _prepared_insert(Base.metadata.tables["consent_records"], dialect)
        self.insert_audit = _prepared_insert(Base.metadata.tables["audit_log"], dialect)


@dataclass(frozen=True)
class InboundRecord:
    """Where a recorded inbound message belongs, and the conversation as it was then.

    `state` was read before the contact's lock was held, so another turn may have changed it
    since: `version` (when the conversation was last saved) lets the router tell, and read
    it again only then (bot/contact_lock.py). None means unknown: read it again.
    """

    message_id: int
    contact_id: int
    address_id: int
    conversation_id: int
    language: str | None
    is_new_contact: bool
    state: dict[str, Any] | None = field(default=None, compare=False)
    version: str | None = None


def state_version(saved_at: datetime) -> str:
    """A conversation's version: when it was last saved, in microseconds since the epoch
    (exact, and the same whatever time zone the database answers in)."""
    return str((saved_at - _EPOCH) // timedelta(microseconds=1))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        self.statements = InboundStatements(db.engine.dialect)
        # Each batch is one hop to the database thread (bot/batching.py).
        self._inbound_batcher: Batcher[_Step, Any] = Batcher(partial(db.run, self._inbound_many))

    @property
    def sessions(self) -> Any:
        return self.db.sessions

    async def ping(self) -> None:
        await self.db.run(self._ping)

    def _ping(self) -> None:
        with self.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    # -- inbound ----------------------------------------------------------------------------
    # Every step a message takes in the database (record it, read state, save the turn) goes
    # through one group commit (bot/batching.py): the steps of all messages waiting at that
    # moment, whichever step each is at, share one database thread hop and one transaction.
    # If one of them fails, the batch is done again with a savepoint each, so its failure is
    # its own.
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

    async def handoff_status(self, handoff_id: int) -> str | None:
        """Whether staff still hold a conversation is asked on every message while they do."""
        status: str | None = await self._inbound_batcher(
            _Read(self.statements.handoff_status, {"handoff_id": handoff_id})
        )
        return status

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
        the time saved with them (the conversation's new `state_version`)."""
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
                except Exception as exc:  # this step only; the others still commit
                    results[n] = exc
        return results

    def _do_step(self, cursor: Any, step: _Step, now: datetime) -> Any:
        if isinstance(step, _Record):
            return _insert_inbound(self.statements, cursor, step.msg, step.address_hash)
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
                    return _insert_inbound(self.statements, cursor, msg, address_hash)
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
        statements, record = self.statements, turn.record
        statements.save_state.execute(
            cursor,
            {
                "conversation_id": record.conversation_id,
                "state": turn.state,
                "address_id": record.address_id,
                "now": now,
            },
        )
        statements.mark_handled.execute(
            cursor, {"message_id": record.message_id, "status": HANDLED, "now": now}
        )
        for effect in turn.effects:
            _apply(statements, cursor, record, turn.channel, effect, now)
        return [
            _insert_message(statements, cursor, record, turn.channel, now, reply)
            for reply in turn.replies
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
            message_id: int = connection.scalar(
                insert(_messages).returning(_messages.c.id),
                _outbound_values(record, channel, now, reply),
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

    async def count_messages(self, direction: str, status: str | None = None) -> int:
        return await self.db.run(self._count_messages, direction, status)

    def _count_messages(self, direction: str, status: str | None) -> int:
        with self.db.sessions() as session:
            query = select(func.count(Message.id)).where(Message.direction == direction)
            if status is not None:
                query = query.where(Message.status == status)
            return int(session.scalar(query) or 0)


def _insert_inbound(
    statements: InboundStatements, cursor: Any, msg: InboundMessage, address_hash: str
) -> InboundRecord:
    kind = msg.address_kind.value
    row = statements.find_address.first(cursor, {"kind": kind, "address_hash": address_hash})
    is_new = row is None
    if row is None and kind in PHONE_KINDS:
        # The same phone on WhatsApp and SMS is one beneficiary: join their contact.
        row = _join_same_phone(statements, cursor, msg, address_hash)
        is_new = row is None
    if row is None:
        now = _now()
        contact_id = statements.insert_contact.scalar(
            cursor,
            {
                "created_at": now,
                "language": None,
                "display_name": msg.sender_name,
                "national_id": None,
                "national_id_hash": None,
            },
        )
        address_id = _insert_address(statements, cursor, contact_id, msg, address_hash)
        conversation_id = statements.insert_conversation.scalar(
            cursor,
            {
                "contact_id": contact_id,
                "state": None,
                "last_address_id": address_id,
                "updated_at": now,
            },
        )
        language, state, saved_at = None, None, now
    else:
        address_id, contact_id, language, conversation_id, stopped_at, state, saved_at = row
        if stopped_at is not None:
            # They write again (unblocked the bot, or opted back in at the provider).
            statements.unstop_address.execute(
                cursor, {"address_id": address_id, "stopped_at": None}
            )
    message_id = statements.insert_message.scalar(
        cursor,
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
    return InboundRecord(
        message_id,
        contact_id,
        address_id,
        conversation_id,
        language,
        is_new,
        state,
        state_version(saved_at) if saved_at is not None else None,
    )


def _join_same_phone(
    statements: InboundStatements, cursor: Any, msg: InboundMessage, address_hash: str
) -> tuple[Any, ...] | None:
    (other_kind,) = [kind for kind in PHONE_KINDS if kind != msg.address_kind.value]
    known = statements.find_address.first(
        cursor, {"kind": other_kind, "address_hash": address_hash}
    )
    if known is None:
        return None
    _, contact_id, language, conversation_id, _stopped, state, saved_at = known
    address_id = _insert_address(statements, cursor, contact_id, msg, address_hash)
    return address_id, contact_id, language, conversation_id, None, state, saved_at


def _insert_address(
    statements: InboundStatements,
    cursor: Any,
    contact_id: int,
    msg: InboundMessage,
    address_hash: str,
) -> int:
    address_id: int = statements.insert_address.scalar(
        cursor,
        {
            "contact_id": contact_id,
            "kind": msg.address_kind.value,
            "address": msg.address,
            "address_hash": address_hash,
            "created_at": _now(),
            "stopped_at": None,
        },
    )
    return address_id


def _outbound_values(
    record: InboundRecord, channel: str, now: datetime, reply: OutboundMessage
) -> dict[str, Any]:
    """The row of a reply queued for delivery."""
    return {
        "conversation_id": record.conversation_id,
        "address_id": record.address_id,
        "direction": "out",
        "channel": channel,
        "provider_id": None,
        "body": reply.text,
        "payload": reply.to_json(),
        "status": DeliveryStatus.QUEUED.value,
        "error_code": None,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _insert_message(
    statements: InboundStatements,
    cursor: Any,
    record: InboundRecord,
    channel: str,
    now: datetime,
    reply: OutboundMessage,
) -> int:
    values = _outbound_values(record, channel, now, reply)
    message_id: int = statements.insert_message.scalar(cursor, values)
    return message_id


def _apply(
    statements: InboundStatements,
    cursor: Any,
    record: InboundRecord,
    channel: str,
    effect: Effect,
    now: datetime,
) -> None:
    if isinstance(effect, SetLanguage):
        statements.set_language.execute(
            cursor, {"contact_id": record.contact_id, "language": effect.language}
        )
    elif isinstance(effect, RecordConsent):
        statements.insert_consent.execute(
            cursor,
            {
                "contact_id": record.contact_id,
                "purpose": effect.purpose,
                "granted": effect.granted,
                "channel": channel,
                "address_id": record.address_id,
                "source": effect.source,
                "wording_version": effect.wording_version,
                "created_at": now,
            },
        )
    elif isinstance(effect, Audit):
        statements.insert_audit.execute(
            cursor,
            {
                "at": now,
                "actor": f"contact:{record.contact_id}",
                "action": effect.action,
                "subject_type": "contact",
                "subject_id": record.contact_id,
                "details": effect.details,
            },
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
