"""Inbound email decoded for the router: sender, the new text, attachments and its thread.

`parse_email` turns one RFC 822 message (as IMAP hands it over) into the router's
`InboundMessage` plus what a reply needs to join the thread (Message-ID, References, subject).
The text is the plain-text part, or the HTML part made text, without the quoted history and
signature. Automatic mail (auto-replies, bounces, reports, our own) is refused with
`IgnoredEmail` so the gateway never answers a machine, and never itself.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr

from bot.models import AddressKind, InboundMessage
from channels.email.html_text import html_to_text
from channels.email.quotes import strip_quoted

log = logging.getLogger(__name__)

MAX_TEXT = 4096  # what the router gets of one email's new text
MAX_ATTACHMENTS = 10
MAX_REFERENCES = 10
MAX_SUBJECT = 200
MAX_FILENAME = 200
PROVIDER_ID_LIMIT = 128  # messages.provider_id is VARCHAR(128)

_PARSER = BytesParser(policy=policy.default)


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


ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+")
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
    if len(address) > 254 or not ADDRESS.fullmatch(address):
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
