"""Email: IMAP in (aioimaplib), SMTP out (aiosmtplib), one thread per beneficiary.

Inbound, the web process watches one mailbox (`IMAP_MAILBOX`, INBOX by default): it logs in,
selects the mailbox, fetches every unseen message with `UID FETCH <uid> (BODY.PEEK[])` (PEEK:
fetching must not set \\Seen by itself), decodes it with the standard `email` package, stores
its attachments, hands it to the router and only then flags it \\Seen. A crash between the two
loses nothing: the message is fetched again and the router drops it as a duplicate of its
Message-ID. Between rounds the poller waits in IDLE when the server offers it (re-checking every
`IDLE_SECONDS` anyway), otherwise it polls every `POLL_SECONDS`. Connection errors end the
session and it starts again with a growing delay; nothing here ever stops the web process.
With several web processes, one of them (holding a Redis lock) reads the mailbox at a time, so
one person's emails are handled in the order they arrived.

The router sees only what the beneficiary wrote this time: the plain-text part (or the HTML
part turned into text), without the quoted history (">" lines, "On ... wrote:" and its Arabic
forms, Outlook's "-----Original Message-----" and "From: ... Sent: ..." blocks) and without the
signature ("-- " and "Sent from my iPhone"-style lines).

Outbound, each reply goes by SMTP from `SMTP_FROM` as text/plain UTF-8 (menus as numbered
lists), answering the beneficiary's last email: `In-Reply-To`, `References` and "Re: <their
subject>", remembered per address in Redis (encrypted, keyed by the address's keyed hash) for
`THREAD_TTL_SECONDS`. Without a thread the subject is the association's name in Arabic and
English. SMTP 4xx and connection errors are retried by the worker, 5xx are permanent.

No aioimaplib or aiosmtplib type leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import re
import ssl
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr
from html.parser import HTMLParser
from typing import Any, ClassVar

import aioimaplib
import aiosmtplib
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from bot.crypto import DecryptionError
from bot.models import AddressKind, InboundMessage, Media, OutboundMessage
from bot.text import normalize_for_matching
from channels.base import (
    Capabilities,
    Channel,
    PermanentSendError,
    RetryableSendError,
    SendResult,
    ThrottledError,
)
from channels.context import ChannelContext
from channels.render import numbered_text

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
SMTP_TIMEOUT_SECONDS = 30.0
SMTP_CHECK_AFTER_SECONDS = 10.0  # a pooled SMTP connection idle this long is checked with NOOP
THREAD_TTL_SECONDS = 90 * 24 * 3600
MAX_TEXT = 4096  # what the router gets of one email's new text
MAX_ATTACHMENTS = 10
MAX_REFERENCES = 10
MAX_SUBJECT = 200
MAX_FILENAME = 200
PROVIDER_ID_LIMIT = 128  # messages.provider_id is VARCHAR(128)

_PARSER = BytesParser(policy=policy.default)


# -- parsing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attachment:
    content_type: str
    filename: str | None
    data: bytes


@dataclass(frozen=True)
class ParsedEmail:
    """One inbound email: the router's message (media not stored yet) and its thread."""

    message: InboundMessage
    message_id: str | None
    references: tuple[str, ...]  # what a reply to it carries in References
    subject: str
    attachments: tuple[Attachment, ...]


class IgnoredEmail(ValueError):
    """A readable email the gateway must not answer: auto-replies, bounces, our own mail."""


def parse_email(raw: bytes, own_address: str | None = None) -> ParsedEmail:
    """Decode one RFC 822 message; ValueError when it cannot (or must not) be answered."""
    if not raw.strip():
        raise ValueError("empty message")
    try:
        msg = _PARSER.parsebytes(raw)
        return _parse(msg, raw, own_address)
    except ValueError:
        raise
    except Exception as exc:  # the email package can still trip over hostile structures
        raise ValueError(f"unreadable message ({type(exc).__name__})") from exc


def _parse(msg: Message, raw: bytes, own_address: str | None) -> ParsedEmail:
    address, name = _sender(msg)
    if own_address is not None and address == own_address.lower():
        raise IgnoredEmail("sent by this gateway")
    reason = _automatic(msg, address)
    if reason is not None:
        raise IgnoredEmail(reason)
    message_id = _message_id(msg)
    body = _body_part(msg)
    text = strip_quoted(_part_text(body)) if body is not None else ""
    attachments = tuple(_attachments(msg, body))
    inbound = InboundMessage(
        channel="email",
        address_kind=AddressKind.EMAIL,
        address=address,
        provider_id=_provider_id(message_id, raw),
        text=_clean_controls(text)[:MAX_TEXT].strip(),
        sender_name=name,
    )
    return ParsedEmail(
        message=inbound,
        message_id=message_id,
        references=_references(msg, message_id),
        subject=_one_line(_header(msg, "Subject"))[:MAX_SUBJECT],
        attachments=attachments,
    )


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return "" if value is None else str(value)


def _one_line(value: str) -> str:
    return " ".join(_clean_controls(value).split())


def _clean_controls(value: str) -> str:
    return _CONTROLS.sub("", value)


def _sender(msg: Message) -> tuple[str, str | None]:
    """The From address, lower-cased, and the display name."""
    header = msg.get("From")
    if header is None:
        raise ValueError("no From address")
    addresses = getattr(header, "addresses", None)
    if addresses:
        address, name = addresses[0].addr_spec, addresses[0].display_name
    else:
        name, address = parseaddr(str(header))
    address = address.strip().lower()
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise ValueError("no usable From address")
    return address, (_one_line(name)[:200] or None)


_AUTOMATIC_SENDERS = ("mailer-daemon", "postmaster")
_AUTOMATIC_PRECEDENCE = ("bulk", "junk", "list", "auto_reply")


def _automatic(msg: Message, address: str) -> str | None:
    """Why a message is an automatic one nobody wants answered (RFC 3834), or None."""
    auto_submitted = _header(msg, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"Auto-Submitted: {auto_submitted[:40]}"
    if _header(msg, "Precedence").strip().lower() in _AUTOMATIC_PRECEDENCE:
        return "Precedence: bulk, junk or list"
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return "an auto-reply"
    if _header(msg, "Return-Path").strip() == "<>":
        return "a bounce (empty return path)"
    if address.split("@", 1)[0] in _AUTOMATIC_SENDERS:
        return "a bounce (mailer daemon)"
    if msg.get_content_type() == "multipart/report":
        return "a delivery or read report"
    return None


def _message_id(msg: Message) -> str | None:
    value = _header(msg, "Message-ID").strip()
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group()
    token = value.split()[0] if value.split() else ""
    return f"<{token}>" if token and "<" not in token and ">" not in token else None


def _provider_id(message_id: str | None, raw: bytes) -> str:
    """The Message-ID, or a digest when it is missing or too long for the column."""
    if message_id is not None and len(message_id) <= PROVIDER_ID_LIMIT:
        return message_id
    basis = message_id.encode() if message_id is not None else raw
    return "sha256:" + hashlib.sha256(basis).hexdigest()


def _references(msg: Message, message_id: str | None) -> tuple[str, ...]:
    """RFC 5322 3.6.4: the parent's References (or In-Reply-To) followed by its Message-ID."""
    previous = (
        _MESSAGE_ID.findall(_header(msg, "References"))
        or _MESSAGE_ID.findall(_header(msg, "In-Reply-To"))[:1]
    )
    chain = [*previous, message_id] if message_id else previous
    if len(chain) > MAX_REFERENCES:  # keep the thread's root and the most recent ones
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return tuple(chain)


def _body_part(msg: Message) -> Message | None:
    get_body = getattr(msg, "get_body", None)
    if get_body is None:
        return None
    part: Message | None = get_body(preferencelist=("plain", "html"))
    return part


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, errors="replace")
    except (LookupError, ValueError, TypeError):
        text = payload.decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return text


def _attachments(msg: Message, body: Message | None) -> Iterator[Attachment]:
    """Every leaf part that is not the body or one of its text alternatives."""
    count = 0
    for part in msg.walk():
        if part is body or part.is_multipart():
            continue
        if part.get_content_maintype() == "text" and part.get_content_disposition() != "attachment":
            continue  # the other alternative of the body, or an inline text fragment
        if part.get_content_maintype() == "message":
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        if count == MAX_ATTACHMENTS:
            log.warning("email: more than %d attachments, the rest is not stored", count)
            return
        count += 1
        yield Attachment(part.get_content_type(), _filename(part), data)


def _filename(part: Message) -> str | None:
    name = part.get_filename()
    if not name:
        return None
    name = _one_line(str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    return name[:MAX_FILENAME] or None


# -- HTML to text -------------------------------------------------------------------------------
_BLOCK_TAGS = frozenset(
    "address article aside br dd div dl dt footer h1 h2 h3 h4 h5 h6 header hr li ol p pre "
    "section table tr ul".split()
)
_SKIPPED_TAGS = frozenset({"blockquote", "head", "script", "style", "title", "template"})
_SKIPPED_CLASSES = frozenset({"gmail_quote", "gmail_signature", "moz-cite-prefix"})
# Outlook puts the reply header and the whole quoted message after these, as siblings.
_HISTORY_IDS = frozenset({"appendonsend", "divrplyfwdmsg", "mail-editor-reference-message"})


class _HtmlText(HTMLParser):
    """Visible text with line breaks at block boundaries; quoted history left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: str | None = None
        self._depth = 0
        self._stopped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._stopped:
            return
        if self._skipping is not None:
            self._depth += tag == self._skipping
            return
        attributes = {key: value or "" for key, value in attrs}
        if attributes.get("id", "").lower() in _HISTORY_IDS:
            self._stopped = True
            return
        if tag in _SKIPPED_TAGS or _SKIPPED_CLASSES & set(attributes.get("class", "").split()):
            if tag not in ("br", "hr", "img"):
                self._skipping, self._depth = tag, 1
            return
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._stopped and self._skipping is None and tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._stopped:
            return
        if self._skipping is not None:
            if tag == self._skipping:
                self._depth -= 1
                if self._depth == 0:
                    self._skipping = None
            return
        if tag in _BLOCK_TAGS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._stopped and self._skipping is None:
            self.parts.append(" ".join(data.split()) if data.strip() else " ")


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser gives up on some broken markup: keep what it read
        log.debug("email: HTML part only partly readable", exc_info=True)
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(lines)


# -- quoted history and signatures --------------------------------------------------------------
# Arabic words are escapes: no Arabic literals in code (user-facing Arabic is in the catalogs).
_AR_IN = "\u0641\u064a"  # "in/on" that starts an Arabic reply header
_AR_WROTE = ("\u0643\u062a\u0628", "\u0643\u062a\u0627\u0628\u0647")  # "wrote", "writing"
_AR_BY = "\u0628\u0648\u0627\u0633\u0637\u0647"  # "by" (Gmail: "... was written by X:")
_AR_ORIGINAL = (
    "\u0627\u0644\u0631\u0633\u0627\u0644\u0647 \u0627\u0644\u0627\u0635\u0644\u064a\u0647"
)
_AR_FROM = "\u0645\u0646"
_AR_SENT_LABELS = (
    "\u062a\u0627\u0631\u064a\u062e \u0627\u0644\u0627\u0631\u0633\u0627\u0644",  # date sent
    "\u0627\u0631\u0633\u0644\u062a",  # sent (f.)
    "\u0627\u0631\u0633\u0644",  # sent
    "\u062a\u0645 \u0627\u0644\u0627\u0631\u0633\u0627\u0644",  # was sent
    "\u0627\u0644\u062a\u0627\u0631\u064a\u062e",  # date
)
_AR_SENT_FROM = (
    "\u0627\u0631\u0633\u0644\u062a \u0645\u0646",  # sent from
    "\u0627\u0631\u0633\u0644 \u0645\u0646",  # sent from
    "\u0645\u0631\u0633\u0644 \u0645\u0646",  # sent from
    "\u0645\u0631\u0633\u0644\u0647 \u0645\u0646",  # sent from (f.)
    "\u062a\u0645 \u0627\u0644\u0627\u0631\u0633\u0627\u0644 \u0645\u0646",  # was sent from
)
_FROM_LABELS = ("from", _AR_FROM)
_SENT_LABELS = ("sent", "date", *_AR_SENT_LABELS)
_ON_WROTE = re.compile(r"on\s.*\swrote\s*:?", re.IGNORECASE | re.DOTALL)
_WROTE_END = re.compile(r".*\swrote\s*:", re.IGNORECASE | re.DOTALL)
_LABEL = re.compile(r"^[*\s]*([^:*]{1,30})\*?\s*:")
_SENT_FROM = re.compile(
    r"^(sent from|sent with|sent via|sent using|get outlook for|envoy\u00e9 de)\b", re.IGNORECASE
)
_SEPARATOR = re.compile(r"^[\s_=\-]*$")


def _visible(line: str) -> str:
    """The line without invisible format characters (bidi marks), stripped."""
    return "".join(ch for ch in line if unicodedata.category(ch) != "Cf").strip()


def _reply_header_lines(lines: list[str], index: int) -> int:
    """How many lines from `index` form an "On ... wrote:" header (0 when none)."""
    first = _visible(lines[index])
    if not first:
        return 0
    english = first[:3].lower() == "on "
    arabic = normalize_for_matching(first).startswith(_AR_IN + " ")
    if not english and not arabic and "wrote" not in first.lower():
        return 0
    for span in (1, 2, 3):
        candidate = " ".join(_visible(line) for line in lines[index : index + span])
        if not candidate.endswith(":") and not candidate.lower().endswith("wrote"):
            continue
        if not (re.search(r"\d", candidate) or "@" in candidate):
            continue  # every client writes a date or an address in it
        if english and _ON_WROTE.fullmatch(candidate):
            return span
        if arabic:
            words = set(normalize_for_matching(candidate).split())
            if words & {*_AR_WROTE, _AR_BY}:
                return span
        if not english and not arabic and _WROTE_END.fullmatch(candidate):
            return span  # Thunderbird: "07/01/2024 10:00, Layla wrote:"
    return 0


def _label(line: str) -> str | None:
    found = _LABEL.match(_visible(line))
    return normalize_for_matching(found.group(1)) if found else None


def _is_header_block(lines: list[str], index: int) -> bool:
    """Outlook's "From: ... / Sent: ..." (or Date:) block that starts a quoted message."""
    if _label(lines[index]) not in _FROM_LABELS:
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()][:4]
    return any(_label(line) in _SENT_LABELS for line in following)


def _is_original_message(line: str) -> bool:
    visible = _visible(line)
    return "--" in visible and normalize_for_matching(visible) in ("original message", _AR_ORIGINAL)


def _is_signature(line: str) -> bool:
    visible = _visible(line)
    if line.rstrip() == "--" or line == "-- ":
        return True
    if len(visible) > 80:
        return False
    if _SENT_FROM.match(visible):
        return True
    words = normalize_for_matching(visible)
    return any(words == phrase or words.startswith(phrase + " ") for phrase in _AR_SENT_FROM)


def _without_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _is_signature(line):
            return lines[:index]
    return lines


def _unquoted(lines: list[str]) -> list[str]:
    return [line for line in lines if not _visible(line).startswith(">")]


def strip_quoted(text: str) -> str:
    """The new text of a reply: quoted history and signature removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index in range(len(lines)):
        span = _reply_header_lines(lines, index)
        if span:
            before = _unquoted(_without_signature(lines[:index]))
            if any(line.strip() for line in before):
                lines = lines[:index]  # top-posting: everything after the header is history
            else:  # bottom-posting: the answer is below the quote
                lines = _unquoted(lines[index + span :])
            break
        if _is_original_message(lines[index]) or _is_header_block(lines, index):
            lines = lines[:index]
            break
    lines = _unquoted(_without_signature(lines))
    while lines and _SEPARATOR.match(lines[-1]):
        lines.pop()
    cleaned = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", cleaned)


# -- the channel --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Thread:
    message_id: str | None
    references: tuple[str, ...]
    subject: str


_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|\u0631\u062f)\s*:", re.IGNORECASE)


class _ImapFailure(Exception):
    """The IMAP server said NO or BAD, or answered something unexpected."""


class EmailChannel(Channel):
    name: ClassVar[str] = "email"
    address_kinds = (AddressKind.EMAIL,)
    capabilities = Capabilities(buttons=False, max_text_length=100_000)

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        settings = context.settings
        display, address = parseaddr(settings.smtp_from or "")
        if not _ADDRESS.fullmatch(address):
            raise ValueError(f"SMTP_FROM must be an email address (got {settings.smtp_from!r})")
        self._from_address = address.lower()
        self._domain = address.rsplit("@", 1)[1]
        short = context.profile.short_name
        self._from = Address(display_name=display or f"{short.ar} | {short.en}", addr_spec=address)
        name = context.profile.name
        self._default_subject = f"{name.ar} | {name.en}"
        self._smtp: aiosmtplib.SMTP | None = None
        self._smtp_used = 0.0
        self._smtp_lock = asyncio.Lock()
        self._failures: dict[int, int] = {}
        self._backoff = RECONNECT_MIN_SECONDS

    async def close(self) -> None:
        await self._drop_smtp()

    # -- inbound ------------------------------------------------------------------------------
    async def poll(self, deliver: Callable[[InboundMessage], Awaitable[object]]) -> None:
        """Watch the mailbox until cancelled; every failure is logged and retried."""
        settings = self.context.settings
        mailbox_key = f"{settings.imap_host}:{settings.imap_port}:{self._imap_user()}:"
        lock = self.context.redis.lock(
            "tawasul:email:poller:" + self.context.cipher.lookup_hash(mailbox_key + self._box()),
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
        return self.context.settings.imap_username or self._from_address

    def _box(self) -> str:
        mailbox = self.context.settings.imap_mailbox
        return f'"{mailbox}"' if " " in mailbox and not mailbox.startswith('"') else mailbox

    async def _session(
        self, deliver: Callable[[InboundMessage], Awaitable[object]], lock: Lock
    ) -> None:
        settings = self.context.settings
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
        deliver: Callable[[InboundMessage], Awaitable[object]],
        lock: Lock,
    ) -> None:
        """Hand every unseen message to the router, oldest first, until none is left."""
        while uids := _search_uids(await client.uid_search("UNSEEN", charset=None)):
            for uid in uids:
                await self._take(client, uid, deliver)
                await lock.reacquire()

    async def _take(
        self,
        client: aioimaplib.IMAP4,
        uid: int,
        deliver: Callable[[InboundMessage], Awaitable[object]],
    ) -> None:
        raw = _fetched_body(await client.uid("fetch", str(uid), "(BODY.PEEK[])"), uid)
        if raw is None:
            return  # expunged meanwhile
        try:
            parsed = parse_email(raw, own_address=self._from_address)
        except IgnoredEmail as exc:
            log.info("email: message uid %d not answered: %s", uid, exc)
            await _mark_seen(client, uid)
            return
        except ValueError as exc:
            log.warning("email: message uid %d unreadable (%s); left in the mailbox", uid, exc)
            await _mark_seen(client, uid)
            return
        message = await self._with_media(parsed)
        await self._remember_thread(parsed)
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

    async def _with_media(self, parsed: ParsedEmail) -> InboundMessage:
        media: list[Media] = []
        for attachment in parsed.attachments:
            try:
                stored = await self.context.media.save(
                    attachment.data, attachment.content_type, attachment.filename
                )
            except (ValueError, OSError) as exc:
                log.warning("email: attachment not stored (%s)", exc)
                stored = Media(content_type=attachment.content_type, filename=attachment.filename)
            media.append(stored)
        return replace(parsed.message, media=tuple(media))

    # -- threads ------------------------------------------------------------------------------
    def _thread_key(self, address: str) -> str:
        return "tawasul:email:thread:" + self.context.cipher.lookup_hash(address.lower())

    async def _remember_thread(self, parsed: ParsedEmail) -> None:
        """What the replies to this email need, before the router can queue any reply."""
        value = json.dumps(
            {
                "message_id": parsed.message_id,
                "references": list(parsed.references),
                "subject": parsed.subject,
            }
        )
        await self.context.redis.set(
            self._thread_key(parsed.message.address),
            self.context.cipher.encrypt(value),
            ex=THREAD_TTL_SECONDS,
        )

    async def _thread(self, address: str) -> _Thread | None:
        try:
            stored = await self.context.redis.get(self._thread_key(address))
            if stored is None:
                return None
            token = stored.decode() if isinstance(stored, bytes) else str(stored)
            data: dict[str, Any] = json.loads(self.context.cipher.decrypt(token))
            return _Thread(
                message_id=data.get("message_id"),
                references=tuple(data.get("references") or ()),
                subject=str(data.get("subject") or ""),
            )
        except (RedisError, DecryptionError, ValueError, TypeError, AttributeError) as exc:
            log.warning("email: thread unavailable (%s); sending a new email", exc)
            return None

    # -- outbound -----------------------------------------------------------------------------
    async def send(self, kind: AddressKind, address: str, message: OutboundMessage) -> SendResult:
        if kind is not AddressKind.EMAIL:
            raise PermanentSendError(f"email cannot reach a {kind} address", code="bad-address")
        if len(address) > 254 or not _ADDRESS.fullmatch(address):
            raise PermanentSendError("not an email address", code="bad-address")
        mail, message_id = self._compose(address, message, await self._thread(address))
        async with self._smtp_lock:
            try:
                smtp = await self._connected()
                await smtp.send_message(mail, sender=self._from_address, recipients=[address])
            except aiosmtplib.SMTPException as exc:
                await self._drop_smtp()
                raise _send_error(exc) from exc
            except (TimeoutError, OSError) as exc:
                await self._drop_smtp()
                raise RetryableSendError(f"SMTP connection failed: {exc}", code="smtp-io") from exc
            self._smtp_used = time.monotonic()
        return SendResult(provider_id=message_id)

    def _compose(
        self, address: str, message: OutboundMessage, thread: _Thread | None
    ) -> tuple[EmailMessage, str]:
        message_id = make_msgid(domain=self._domain)
        mail = EmailMessage()
        try:
            mail["From"] = self._from
            mail["To"] = address
        except (ValueError, TypeError, IndexError) as exc:
            raise PermanentSendError("not an email address", code="bad-address") from exc
        if thread is not None and thread.subject:
            subject = thread.subject
            if not _REPLY_PREFIX.match(subject):
                subject = "Re: " + subject
        else:
            subject = self._default_subject
        mail["Subject"] = subject
        mail["Date"] = format_datetime(datetime.now(UTC))
        mail["Message-ID"] = message_id
        if thread is not None and thread.message_id:
            mail["In-Reply-To"] = thread.message_id
        if thread is not None and thread.references:
            mail["References"] = " ".join(thread.references)
        body = numbered_text(message)
        links = [media.url for media in message.media if media.url]
        if links:
            body += "\n\n" + "\n".join(links)
        mail.set_content(body, charset="utf-8")
        return mail, message_id

    async def _connected(self) -> aiosmtplib.SMTP:
        """The pooled SMTP connection, checked with NOOP after a quiet spell, or a new one."""
        smtp = self._smtp
        if smtp is not None and smtp.is_connected:
            if time.monotonic() - self._smtp_used < SMTP_CHECK_AFTER_SECONDS:
                return smtp
            try:
                await smtp.noop()
                return smtp
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                await self._drop_smtp()
        settings = self.context.settings
        implicit_tls = settings.smtp_port == 465
        smtp = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=(
                settings.smtp_password.get_secret_value()
                if settings.smtp_username and settings.smtp_password
                else None
            ),
            use_tls=implicit_tls,
            start_tls=False if implicit_tls else settings.smtp_starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def _drop_smtp(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), CLEANUP_TIMEOUT_SECONDS)
            smtp.close()


def _send_error(exc: aiosmtplib.SMTPException) -> RetryableSendError | PermanentSendError:
    """SMTP replies to send errors: 421 → throttled, 4xx → retry, 5xx → permanent.

    A 5xx at submission (550 unknown mailbox, 553 bad address, 554 rejected) fails the message
    for good, but is not taken as the beneficiary opting out (ContactStoppedError): it may be
    a typo, a full or closed mailbox, or our own server's policy, and it says nothing of what
    the person wants."""
    code: int | None = None
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        code = exc.recipients[0].code
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        code = exc.code
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        log.error("email: the SMTP server refused SMTP_USERNAME/SMTP_PASSWORD (%s)", exc.code)
        return RetryableSendError(f"SMTP authentication failed: {exc}", code="smtp-auth")
    if code is None:
        return RetryableSendError(f"SMTP error: {exc}", code="smtp-error")
    if code == 421:
        return ThrottledError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
    if 400 <= code < 500:
        return RetryableSendError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
    if 500 <= code < 600:
        return PermanentSendError(f"SMTP {code}: {exc}", code=f"smtp-{code}")
    return RetryableSendError(f"SMTP {code}: {exc}", code=f"smtp-{code}")


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
