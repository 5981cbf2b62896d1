"""The rows of the inbound path: a message recorded (with its contact, address and
conversation on first contact) and a turn's replies, run as `Prepared` statements on the
database cursor of the inbound batch (bot/storage/inbound.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Dialect

from bot.crypto import Cipher
from bot.models import PHONE_KINDS, DeliveryStatus, InboundMessage, OutboundMessage
from bot.models import utcnow as _now
from bot.prepared import Prepared
from bot.tables import Base

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
# Joined by phone number across channels; a WhatsApp user id (whatsapp_user) is not one.
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
# Whether a typed reference names a stored record: most typed digits name none (a menu number
# typed in the status journey), and this answers that on the batched path.
_REQUEST_KNOWN = select(Base.metadata.tables["support_requests"].c.id).where(
    Base.metadata.tables["support_requests"].c.reference == bindparam("reference")
)
_COMPLAINT_KNOWN = select(Base.metadata.tables["complaints"].c.id).where(
    Base.metadata.tables["complaints"].c.reference == bindparam("reference")
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
# Only a message still waiting is marked: a second turn of the same message (two processes
# that both thought the other dead) changes no row, and saves nothing.
_MARK_HANDLED = (
    update(_messages)
    .where(_messages.c.id == bindparam("message_id"), _messages.c.status == RECEIVED)
    .values(status=HANDLED, updated_at=bindparam("now"))
)


def prepared_insert(table: Any, dialect: Dialect) -> Prepared:
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
        self.request_known = Prepared(_REQUEST_KNOWN, dialect)
        self.complaint_known = Prepared(_COMPLAINT_KNOWN, dialect)
        self.save_state = Prepared(_SAVE_STATE, dialect)
        self.mark_handled = Prepared(_MARK_HANDLED, dialect)
        self.insert_contact = prepared_insert(_contacts, dialect)
        self.insert_address = prepared_insert(_addresses, dialect)
        self.insert_conversation = prepared_insert(_conversations, dialect)
        self.insert_message = prepared_insert(_messages, dialect)


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


def insert_inbound(
    statements: InboundStatements,
    cursor: Any,
    msg: InboundMessage,
    address_hash: str,
    cipher: Cipher,
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
                "display_name_hash": cipher.name_hash(msg.sender_name),
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
            "journey": journey_of(state),
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


# What a message keeps as its journey when the bot was in none (NULL: not known, as for
# messages stored before messages kept it, and staff's own replies).
MAIN_MENU = "menu"


def journey_of(state: dict[str, Any] | None) -> str:
    """The journey a conversation's state is in, as its messages keep it."""
    flow = state.get("flow") if isinstance(state, dict) else None
    return flow[:40] if isinstance(flow, str) and flow else MAIN_MENU


def outbound_values(
    record: InboundRecord,
    channel: str,
    now: datetime,
    reply: OutboundMessage,
    journey: str | None = None,
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
        "journey": journey,
    }


def insert_message(
    statements: InboundStatements,
    cursor: Any,
    record: InboundRecord,
    channel: str,
    now: datetime,
    reply: OutboundMessage,
    journey: str | None = None,
) -> int:
    values = outbound_values(record, channel, now, reply, journey)
    message_id: int = statements.insert_message.scalar(cursor, values)
    return message_id


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
