"""The engine, its tuning per backend, and the threads storage work runs on (the tables are
in bot/tables.py)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from bot.db_threads import DatabaseThreads

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        # For work that only reads: on SQLite a deferred BEGIN, which in WAL mode neither
        # waits for nor holds the one write lock that every process's writes share.
        self.reads: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._raw: Any = None  # SQLite's connection for raw_transaction, opened on first use
        self._checkpointer: Checkpointer | None = None
        threads = 1 if self._sqlite else DB_THREADS
        self._threads = DatabaseThreads(threads)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run `work(*args)` on a database thread (sooner when started under `urgent()`)."""
        return await asyncio.wrap_future(self._threads.submit(functools.partial(work, *args)))

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
            if write and self._checkpointer is not None:
                self._checkpointer.restart_if_due(cursor)
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
        self._threads.shutdown()
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        self.engine.dispose()


DB_THREADS = 8
SQLITE_BUSY_SECONDS = 30.0
READ_ONLY = "tawasul_read_only"  # an execution option: the transaction only reads
CHECKPOINT_EVERY_COMMITS = 100
CHECKPOINT_SECONDS = 1.0
# Past this many pages left in the log after a passive pass, the database thread restarts
# the log between two of its transactions (see Checkpointer); a log file that grew past
# WAL_SIZE_LIMIT bytes is cut back to it when it restarts.
RESTART_AFTER_PAGES = 4000
RESTART_WAIT_SECONDS = 0.1
WAL_SIZE_LIMIT = 64 * 1024 * 1024


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
        self._restart_due = False
        self._copying = threading.Lock()  # held by a pass; a restart waits for it briefly
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="db-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        """Called after each writing commit (on the database thread)."""
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY_COMMITS:
            self._wake.set()

    def restart_if_due(self, cursor: Any) -> None:
        """Start the log again from its beginning, when passes have left it long.

        Called on the database thread between two transactions, where no other thread of
        this process writes: passive passes never let the log start again while writes
        follow each other (it grew to 300 MB in bench/inbound.py), and a RESTART on the
        checkpoint thread waited behind every writer. It waits briefly for a pass under
        way; another process using the log makes it give up at once (busy_timeout is 0 on
        this connection), and the next writing transaction tries again.
        """
        if not self._restart_due or not self._copying.acquire(timeout=RESTART_WAIT_SECONDS):
            return
        try:
            busy, _pages, _copied = cursor.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        finally:
            self._copying.release()
        self._restart_due = bool(busy)

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
                    with self._copying:
                        cursor = connection.cursor()
                        _busy, pages, _copied = cursor.execute(
                            "PRAGMA wal_checkpoint(PASSIVE)"
                        ).fetchone()
                    if pages > RESTART_AFTER_PAGES:
                        self._restart_due = True
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
    when another process (the worker) has just written; one whose connection carries the
    READ_ONLY execution option (`Database.reads`) begins deferred instead.
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
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Statements inside a transaction begun below never meet a lock in WAL mode;
            # this is the backstop for the rest (the wait for BEGIN is ours, below).
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                conn.connection.dbapi_connection.cursor().execute("BEGIN")
                return
            # Our own short waits, not SQLite's busy handler (sleeps of up to 100 ms): with
            # two processes writing, a reply's transaction would otherwise wait seconds
            # for a lock that was free a millisecond after it asked.
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA busy_timeout=0")
                _begin_sqlite(cursor, "BEGIN IMMEDIATE")
            finally:
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

        return engine
    return create_engine(url, pool_size=DB_THREADS, max_overflow=2, pool_pre_ping=True)
