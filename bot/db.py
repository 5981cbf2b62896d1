"""Tables, engine and sessions. Personal columns use the encrypted types below."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Dialect, Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from bot.crypto import active_cipher
from bot.models import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

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
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[Any] = mapped_column(JSON, nullable=True)


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


class SupportRequest(Base):
    """A submitted support request ("talab da'm mustafid"), with the applicant's attestation."""

    __tablename__ = "support_requests"
    __table_args__ = (
        # One open request per national ID (the policy), enforced by the database itself.
        Index(
            "uq_support_requests_open_national_id",
            "national_id_hash",
            unique=True,
            sqlite_where=text("status IN ('submitted', 'under_review')"),
            postgresql_where=text("status IN ('submitted', 'under_review')"),
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


class RequestStatusEvent(Base):
    """Each status a request went through, so the beneficiary can see its history."""

    __tablename__ = "request_status_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("support_requests.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))


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


class Database:
    """A synchronous engine whose work runs on its own threads.

    Each storage operation is one plain function run on this pool: one thread hop per
    transaction (not per statement), and the event loop never waits on disk. SQLite gets a
    single thread, since it allows one writer at a time and its busy handler sleeps;
    PostgreSQL gets a pool.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._raw: Any = None  # SQLite's connection for raw_transaction, opened on first use
        self._checkpointer: Checkpointer | None = None
        threads = 1 if self._sqlite else DB_THREADS
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="db")

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(*args)` on a database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(work, *args))

    @contextmanager
    def raw_transaction(self, write: bool = True) -> Iterator[Any]:
        """A DBAPI cursor in a transaction, for `bot.prepared` statements; commits on success.

        Runs on a database thread. SQLite keeps one connection for this (its one thread uses
        it); a writing transaction starts with BEGIN IMMEDIATE like every other one here.
        """
        if self._sqlite:
            if self._raw is None:
                self._raw = self.engine.raw_connection()
                self._raw.cursor().execute("PRAGMA busy_timeout=0")  # we wait, see _begin
                # Its commits leave copying the log into the database file to its own thread.
                self._raw.cursor().execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = Checkpointer(self.engine)
            cursor = self._raw.cursor()
            _begin_sqlite(cursor, "BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
            if write and self._checkpointer is not None:
                self._checkpointer.wrote()
            return
        pooled = self.engine.raw_connection()
        try:
            cursor = pooled.cursor()
            try:
                yield cursor
            except BaseException:
                pooled.rollback()
                raise
            pooled.commit()
        finally:
            pooled.close()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()


DB_THREADS = 8
SQLITE_BUSY_SECONDS = 30.0
CHECKPOINT_EVERY_COMMITS = 100
CHECKPOINT_SECONDS = 1.0


class Checkpointer:
    """Copies SQLite's write-ahead log into the database file on a thread and connection of
    its own.

    SQLite does it inside whichever commit takes the log past 1,000 pages: about one commit
    in a hundred on the inbound path, each then taking 5-10 ms (copy and fsync) while every
    message behind it waits on the one database thread. A passive checkpoint here waits for
    no reader or writer and holds up none.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._commits = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        """Called after each writing commit (on the database thread)."""
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY_COMMITS:
            self._wake.set()

    def _run(self) -> None:
        connection = self._engine.raw_connection()
        try:
            while not self._stop.is_set():
                self._wake.wait(CHECKPOINT_SECONDS)
                self._wake.clear()
                if self._commits == 0:
                    continue
                self._commits = 0
                try:
                    connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the next round tries again
                    log.warning("SQLite checkpoint failed: %s", exc)
        finally:
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)


def _begin_sqlite(cursor: Any, begin: str) -> None:
    """Begin, waiting for another process's write to finish.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries; with two
    web processes writing small batches the lock is free again within a fraction of a
    millisecond, so those sleeps, not the writes, would set the latency.
    """
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    pause = 0.0001
    while True:
        try:
            cursor.execute(begin)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.002)


def sync_url(url: str) -> str:
    """The URL for the synchronous drivers; plain and async-driver spellings are accepted."""
    for prefix, driver in (
        ("postgresql+asyncpg://", "postgresql+psycopg://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
        ("sqlite+aiosqlite://", "sqlite://"),
    ):
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine tuned per backend.

    SQLite runs in WAL mode (readers never wait for the writer), and every transaction starts
    with BEGIN IMMEDIATE so a read-then-write transaction never fails to upgrade its lock
    when another process (the worker) has just written.
    """
    url = sync_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=DB_THREADS, max_overflow=2, pool_pre_ping=True)
