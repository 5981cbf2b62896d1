"""The IMAP reader: one web process at a time watches the mailbox and hands on each email.

It logs in, selects the mailbox, fetches every unseen message with `UID FETCH <uid>
(BODY.PEEK[])` (PEEK: fetching must not set \\Seen by itself), decodes it, lets the channel
prepare it (attachments stored, thread remembered), hands it to the router and only then flags
it \\Seen. A crash between the two loses nothing: the message is fetched again and the router
drops it as a duplicate of its Message-ID. Between rounds it waits in IDLE when the server
offers it (re-checking every `IDLE_SECONDS` anyway), otherwise it polls every `POLL_SECONDS`.
Connection errors end the session and it starts again with a growing delay; nothing here ever
stops the web process. With several web processes, the one holding a Redis lock (the leader)
reads the mailbox, so one person's emails are handled in the order they arrived.

No aioimaplib type leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aioimaplib
from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from bot.crypto import Cipher
from bot.models import InboundMessage
from channels.email.parsing import IgnoredEmail, ParsedEmail, parse_email
from channels.email.settings import EmailSettings

log = logging.getLogger(__name__)

IDLE_SECONDS = 120.0  # wake from IDLE at least this often to re-check (RFC 2177: < 29 min)
POLL_SECONDS = 15.0  # between checks on servers without IDLE
RECONNECT_MIN_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 60.0
IMAP_TIMEOUT_SECONDS = 30.0
CLEANUP_TIMEOUT_SECONDS = 3.0
LEADER_TTL_SECONDS = IDLE_SECONDS + 60.0  # the poller renews it before and after each wait
LEADER_RETRY_SECONDS = 10.0
MAX_DELIVERY_ATTEMPTS = 5  # a message the router keeps failing on is flagged \Seen and logged

Deliver = Callable[[InboundMessage], Awaitable[object]]


class _ImapFailure(Exception):
    """The IMAP server said NO or BAD, or answered something unexpected."""


class MailboxReader:
    """Reads one mailbox for the channel; `prepare` turns a parsed email into the router's
    message (storing what must be stored first)."""

    def __init__(
        self,
        settings: EmailSettings,
        redis: Redis,
        cipher: Cipher,
        own_address: str,
        prepare: Callable[[ParsedEmail], Awaitable[InboundMessage]],
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._cipher = cipher
        self._own_address = own_address
        self._prepare = prepare
        self._failures: dict[int, int] = {}
        self._backoff = RECONNECT_MIN_SECONDS

    # -- inbound ------------------------------------------------------------------------------
    async def poll(self, deliver: Deliver) -> None:
        """Watch the mailbox until cancelled; every failure is logged and retried."""
        settings = self._settings
        mailbox_key = f"{settings.imap_host}:{settings.imap_port}:{self._imap_user()}:"
        lock = self._redis.lock(
            "tawasul:email:poller:" + self._cipher.lookup_hash(mailbox_key + self._box()),
            timeout=LEADER_TTL_SECONDS,
        )
        while True:
            try:
                if await lock.acquire(blocking=False):
                    try:
                        await self._session(deliver, lock)
                    finally:
                        with contextlib.suppress(LockError, RedisError):
                            await lock.release()
                else:
                    await asyncio.sleep(LEADER_RETRY_SECONDS)  # another process reads it
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "email: mailbox session ended (%s: %s); retrying in %.0f s",
                    type(exc).__name__,
                    exc,
                    self._backoff,
                )
                log.debug("email: session failure", exc_info=True)
            await asyncio.sleep(self._backoff * random.uniform(1.0, 1.25))
            self._backoff = min(self._backoff * 2, RECONNECT_MAX_SECONDS)

    def _imap_user(self) -> str:
        return self._settings.imap_username or self._own_address

    def _box(self) -> str:
        mailbox = self._settings.imap_mailbox
        return f'"{mailbox}"' if " " in mailbox and not mailbox.startswith('"') else mailbox

    async def _session(self, deliver: Deliver, lock: Lock) -> None:
        settings = self._settings
        lost = asyncio.Event()
        client = aioimaplib.IMAP4(
            host=settings.imap_host or "",
            port=settings.imap_port,
            timeout=IMAP_TIMEOUT_SECONDS,
            conn_lost_cb=lambda _exc: lost.set(),
            ssl_context=ssl.create_default_context() if settings.imap_ssl else None,
        )
        try:
            await client.wait_hello_from_server()
            password = settings.imap_password.get_secret_value() if settings.imap_password else ""
            _ok(await client.login(self._imap_user(), password), "LOGIN")
            _ok(await client.select(self._box()), "SELECT")
            idle = client.has_capability("IDLE")
            log.info("email: reading %s (%s)", settings.imap_mailbox, "IDLE" if idle else "polling")
            self._backoff = RECONNECT_MIN_SECONDS
            while True:
                await lock.reacquire()
                await self._drain(client, deliver, lock)
                if lost.is_set():
                    raise ConnectionError("IMAP connection lost")
                if idle:
                    await self._idle(client, lost)
                else:
                    await asyncio.sleep(POLL_SECONDS)
        finally:
            if not lost.is_set():
                with contextlib.suppress(Exception):
                    if client.has_pending_idle():  # cancelled while waiting in IDLE
                        client.idle_done()
                    await asyncio.wait_for(client.logout(), CLEANUP_TIMEOUT_SECONDS)

    async def _drain(
        self,
        client: aioimaplib.IMAP4,
        deliver: Deliver,
        lock: Lock,
    ) -> None:
        """Hand every unseen message to the router, oldest first, until none is left."""
        while True:
            response = await client.uid_search("UNSEEN", charset=None)
            uids = _search_uids(response)
            if not uids:
                # Mail that came while the search ran is announced in its answer (an
                # untagged EXISTS) but not in its result, and IDLE will not announce it
                # again: search once more, or it would wait for IDLE's timeout.
                if _announces_new_mail(response):
                    continue
                return
            for uid in uids:
                await self._take(client, uid, deliver)
                await lock.reacquire()

    async def _take(
        self,
        client: aioimaplib.IMAP4,
        uid: int,
        deliver: Deliver,
    ) -> None:
        raw = _fetched_body(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), uid)
        if raw is None:
            return  # expunged meanwhile
        try:
            parsed = parse_email(raw, own_address=self._own_address)
        except IgnoredEmail as exc:
            log.info("email: message uid %d not answered: %s", uid, exc)
            await _mark_seen(client, uid)
            return
        except ValueError as exc:
            log.warning("email: message uid %d unreadable (%s); left in the mailbox", uid, exc)
            await _mark_seen(client, uid)
            return
        message = await self._prepare(parsed)
        try:
            await deliver(message)
        except Exception:
            attempts = self._failures[uid] = self._failures.get(uid, 0) + 1
            if attempts < MAX_DELIVERY_ATTEMPTS:
                raise
            log.exception(
                "email: message uid %d failed %d times; flagged read and left in the mailbox",
                uid,
                attempts,
            )
        self._failures.pop(uid, None)
        await _mark_seen(client, uid)

    async def _idle(self, client: aioimaplib.IMAP4, lost: asyncio.Event) -> None:
        """Wait in IDLE for news (or IDLE_SECONDS, or a lost connection)."""
        idle = await client.idle_start(timeout=IDLE_SECONDS)
        push = asyncio.ensure_future(client.wait_server_push(timeout=IDLE_SECONDS + 30))
        gone = asyncio.ensure_future(lost.wait())
        try:
            await asyncio.wait({push, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (push, gone):
                task.cancel()
        if lost.is_set() or _says_bye(push):
            raise ConnectionError("IMAP connection lost")
        client.idle_done()
        # A server that hangs up (dovecot's "kick", a restart) may say BYE just before the
        # connection drops: then IDLE never ends, and only the lost connection says so.
        gone = asyncio.ensure_future(lost.wait())
        try:
            ended, _ = await asyncio.wait(
                {idle, gone}, timeout=IMAP_TIMEOUT_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            gone.cancel()
        if lost.is_set():
            raise ConnectionError("IMAP connection lost")
        if idle not in ended:  # the session is out of step: start a new one
            raise ConnectionError("the IMAP server did not end IDLE")
        idle.result()


# -- IMAP responses -----------------------------------------------------------------------------
def _ok(response: Any, command: str) -> None:
    if response.result != "OK":
        text = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        raise _ImapFailure(f"{command} refused: {text[:200]}")


def _search_uids(response: Any) -> list[int]:
    _ok(response, "UID SEARCH")
    uids: list[int] = []
    for line in response.lines[:-1]:
        tokens = bytes(line).split()
        if tokens[:1] == [b"SEARCH"]:
            tokens = tokens[1:]
        if tokens and all(token.isdigit() for token in tokens):
            uids.extend(int(token) for token in tokens)
    return sorted(set(uids))


def _announces_new_mail(response: Any) -> bool:
    """Whether a command's answer carried an untagged `* N EXISTS` (new mail)."""
    return any(bytes(line).split()[1:2] == [b"EXISTS"] for line in response.lines[:-1])


_FETCH_UID = re.compile(rb"\d+ FETCH \(.*\bUID (\d+)")


def _fetched_body(response: Any, uid: int) -> bytes | None:
    """The literal that follows this uid's FETCH line (other untagged FETCHes may interleave)."""
    _ok(response, "UID FETCH")
    current: int | None = None
    for line in response.lines:
        if isinstance(line, bytearray):
            if current == uid:
                return bytes(line)
            continue
        found = _FETCH_UID.match(line)
        if found:
            current = int(found.group(1))
    return None


async def _mark_seen(client: aioimaplib.IMAP4, uid: int) -> None:
    _ok(await client.uid("store", str(uid), "+FLAGS.SILENT", r"(\Seen)"), "UID STORE")


def _says_bye(push: asyncio.Future[Any]) -> bool:
    """Whether the server's news while in IDLE was that it is hanging up."""
    if not push.done() or push.cancelled() or push.exception() is not None:
        return False
    lines = push.result()
    if not isinstance(lines, list):
        return False
    return any(
        (line.decode(errors="replace") if isinstance(line, bytes) else str(line))
        .upper()
        .startswith("BYE")
        for line in lines
    )
