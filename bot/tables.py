"""The tables. Personal columns use the encrypted types below (the active cipher)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.crypto import active_cipher
from bot.models import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class EncryptedText(TypeDecorator[str]):
    """A string stored as AES-GCM ciphertext; reads return the clear text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_cipher().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_cipher().decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored encrypted (conversation state may hold form answers)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return active_cipher().encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(active_cipher().decrypt(value))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on SQLite too (it drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Stored as UTC: SQLite would keep another offset's wall time and drop the offset."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Contact(Base):
    """A beneficiary, whatever channels they write from."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8))
    display_name: Mapped[str | None] = mapped_column(EncryptedText)
    national_id: Mapped[str | None] = mapped_column(EncryptedText)
    national_id_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Cipher.name_hash of display_name, for the console's exact-name search.
    display_name_hash: Mapped[str | None] = mapped_column(String(64), index=True)


class ContactAddress(Base):
    """One way to reach a contact: a phone on WhatsApp, a web-chat session, a Telegram chat."""

    __tablename__ = "contact_addresses"
    __table_args__ = (UniqueConstraint("kind", "address_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(EncryptedText)
    address_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Conversation(Base):
    """The bot's memory of where a contact is in a journey (one per contact)."""

    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    last_address_id: Mapped[int | None] = mapped_column(ForeignKey("contact_addresses.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """Every message in and out, with the provider's id and the delivery status."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "direction", "provider_id"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        # The outbox sweep looks for replies still queued; only those are indexed.
        Index(
            "ix_messages_queued_outbound",
            "updated_at",
            sqlite_where=text("direction = 'out' AND status = 'queued'"),
            postgresql_where=text("direction = 'out' AND status = 'queued'"),
        ),
        # The inbound sweep looks for messages recorded and never handled; only those are.
        Index(
            "ix_messages_unhandled_inbound",
            "created_at",
            sqlite_where=text("direction = 'in' AND status = 'received'"),
            postgresql_where=text("direction = 'in' AND status = 'received'"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    address_id: Mapped[int] = mapped_column(ForeignKey("contact_addresses.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    channel: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[str | None] = mapped_column(EncryptedText)
    payload: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The journey the bot was in: for a message in, when it came; for a reply, after it.
    journey: Mapped[str | None] = mapped_column(String(40))


class ConsentRecord(Base):
    """A yes or no to one purpose (updates), with when, where, and the wording shown."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_contact_purpose", "contact_id", "purpose", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(16))
    address_id: Mapped[int | None] = mapped_column(ForeignKey("contact_addresses.id"))
    source: Mapped[str] = mapped_column(String(32))  # keyword | question | staff
    wording_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(Base):
    """Who did what to whose data, for the privacy policy's accountability."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # "contact:<id>", "cli", or a staff member's email: the console filters by it.
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[Any] = mapped_column(JSON, nullable=True)
    # The client address a console action came from (None for the bot and the CLI).
    address: Mapped[str | None] = mapped_column(String(64))


class StaffUser(Base):
    """A person who signs in to the console; `role` decides what they may do."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    language: Mapped[str | None] = mapped_column(String(8))  # the console's; None = default


class SupportRequest(Base):
    """A submitted support request ("talab da'm mustafid"), with the applicant's attestation."""

    __tablename__ = "support_requests"
    __table_args__ = (
        # One open request per national ID (the policy), enforced by the database itself.
        Index(
            "uq_support_requests_open_national_id",
            "national_id_hash",
            unique=True,
            sqlite_where=text("status IN ('submitted', 'under_review', 'needs_info')"),
            postgresql_where=text("status IN ('submitted', 'under_review', 'needs_info')"),
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    request_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    national_id_hash: Mapped[str] = mapped_column(String(64))
    answers: Mapped[Any] = mapped_column(EncryptedJSON)
    channel: Mapped[str] = mapped_column(String(16))
    attestation_version: Mapped[str] = mapped_column(String(64))
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision_due: Mapped[datetime] = mapped_column(UTCDateTime)
    # Cipher.name_hash of the form's name answer (the person_name field), for the search.
    name_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The staff member working it (their email); None until someone claims it.
    assigned_to: Mapped[str | None] = mapped_column(String(254))


class RequestStatusEvent(Base):
    """Each status a request went through, so the beneficiary can see its history."""

    __tablename__ = "request_status_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("support_requests.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    # Staff's reason for the change (what the beneficiary must send, the committee's grounds).
    note: Mapped[str | None] = mapped_column(EncryptedText)
    # The research committee's decision date, for "accepted" and "rejected".
    decided_on: Mapped[date | None] = mapped_column(Date)


class Complaint(Base):
    """A complaint or suggestion, with its category, SLA and urgency."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(40))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(EncryptedText)
    attachments: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime)
    # Filled in by staff in the console.
    response: Mapped[str | None] = mapped_column(EncryptedText)
    resolution: Mapped[str | None] = mapped_column(EncryptedText)
    # Where the association is at fault: the compensation policy's findings and the outcome.
    compensation: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The staff member working it (their email); None until someone claims it.
    assigned_to: Mapped[str | None] = mapped_column(String(254))
    # The message that told the beneficiary the outcome (or records that none could go).
    notice_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )


class Handoff(Base):
    """A conversation handed to the contact officer of its domain; the bot stays quiet
    (but for opt-out words) until staff close it."""

    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(40))
    officer_email: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    # The staff member working it (their email); None until someone claims it.
    assigned_to: Mapped[str | None] = mapped_column(String(254))


class StaffNote(Base):
    """A private note between staff on a conversation; never sent to the beneficiary."""

    __tablename__ = "staff_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(254))
    body: Mapped[str] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffTask(Base):
    """Work for staff that the bot cannot do itself, such as a data-deletion request."""

    __tablename__ = "staff_tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    details: Mapped[Any] = mapped_column(EncryptedJSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


MEDIA_ERROR_LENGTH = 255


class MessageMedia(Base):
    """One attachment of an inbound message: its provider reference and where it is now."""

    __tablename__ = "message_media"
    __table_args__ = (UniqueConstraint("message_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # its index in the message's media
    channel: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(EncryptedText)  # opens the file at the provider
    filename: Mapped[str | None] = mapped_column(EncryptedText)  # may name the sender
    stored_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(String(MEDIA_ERROR_LENGTH))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Broadcast(Base):
    """An update sent to consenting contacts (issue 14): its texts, audience filters, state."""

    __tablename__ = "broadcasts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text_ar: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    filters: Mapped[Any] = mapped_column(JSON)  # {"channels": [...], "language": ..., "cities"}
    status: Mapped[str] = mapped_column(String(16))  # scheduled|running|done|cancelled
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BroadcastRecipient(Base):
    """One contact of a broadcast's audience; UNIQUE per broadcast and contact, so a
    broadcast started twice or resumed after a crash messages no one twice."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "contact_id"),
        Index("ix_broadcast_recipients_next", "broadcast_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    address_id: Mapped[int] = mapped_column(ForeignKey("contact_addresses.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))  # pending|messaged|skipped
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
