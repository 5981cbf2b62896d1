"""What the staff console reads to work cases: the inbox (open hand-offs, open complaints,
requests waiting for staff), one conversation's whole timeline across every channel, and the
attachments staff open. Reads only; the console's writes are casework.py's (support
requests are read by request_cases.py, complaints and contacts by their own modules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.tables import (
    Complaint,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    MessageMedia,
    StaffNote,
    SupportRequest,
)

# Requests that wait for staff: new, being studied, or waiting for the beneficiary's papers.
WAITING_REQUEST_STATUSES = ("submitted", "under_review", "needs_info")
LIST_LIMIT = 500
TIMELINE_LIMIT = 1000


@dataclass(frozen=True)
class InboxItem:
    """One piece of open work, whatever its kind ("handoff", "complaint", "request")."""

    kind: str
    id: int
    reference: str
    contact_id: int
    conversation_id: int | None
    domain: str | None  # hand-offs name theirs; the console maps the others' by type
    type_id: str  # the reason, complaint category or request type
    status: str
    urgent: bool
    opened_at: datetime
    due_at: datetime | None  # None: the console computes it (hand-offs, in working hours)
    assigned_to: str | None


@dataclass(frozen=True)
class TimelineMedia:
    id: int
    content_type: str
    status: str


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    at: datetime
    direction: str  # "in" | "out"
    channel: str
    address_kind: str
    text: str
    button_id: str | None
    template: str | None
    status: str
    error_code: str | None
    sent_by: str | None  # the staff member, for a reply from the console
    media: tuple[TimelineMedia, ...]
    journey: str | None = None  # the bot's journey then ("menu": none); None: not known


@dataclass(frozen=True)
class Note:
    author: str
    body: str
    at: datetime


@dataclass(frozen=True)
class HandoffView:
    id: int
    domain: str
    reason: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    assigned_to: str | None


@dataclass(frozen=True)
class ReplyRoute:
    """Where a reply to the beneficiary goes: the address they last wrote from."""

    address_id: int
    address_kind: str
    channel: str
    last_inbound_at: datetime | None  # on this address: what the WhatsApp window counts from


@dataclass(frozen=True)
class ConversationView:
    id: int
    contact_id: int
    language: str | None
    display_name: str | None
    flow: str | None  # the journey the bot is in now
    route: ReplyRoute | None
    timeline: tuple[TimelineEntry, ...]
    notes: tuple[Note, ...]
    handoffs: tuple[HandoffView, ...]


class CaseworkReads:
    """Each call is one read on a database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def inbox(self) -> list[InboxItem]:
        """Open hand-offs, open complaints and waiting requests, oldest first."""
        return await self.db.run(self._inbox)

    def _inbox(self) -> list[InboxItem]:
        with self.db.sessions() as session:
            items = [
                InboxItem(
                    "handoff",
                    h.id,
                    f"H-{h.id}",
                    h.contact_id,
                    h.conversation_id,
                    h.domain,
                    h.reason,
                    h.status,
                    False,
                    h.opened_at,
                    None,
                    h.assigned_to,
                )
                for h in session.scalars(
                    select(Handoff).where(Handoff.status == "open").limit(LIST_LIMIT)
                )
            ]
            complaints = session.scalars(
                select(Complaint).where(Complaint.status == "open").limit(LIST_LIMIT)
            ).all()
            requests = session.scalars(
                select(SupportRequest)
                .where(SupportRequest.status.in_(WAITING_REQUEST_STATUSES))
                .limit(LIST_LIMIT)
            ).all()
            conversations = _conversations_of(
                session, {c.contact_id for c in complaints} | {r.contact_id for r in requests}
            )
            items += [
                InboxItem(
                    "complaint",
                    c.id,
                    c.reference,
                    c.contact_id,
                    conversations.get(c.contact_id),
                    None,
                    c.category,
                    c.status,
                    c.urgent,
                    c.created_at,
                    c.respond_by,
                    c.assigned_to,
                )
                for c in complaints
            ]
            items += [
                InboxItem(
                    "request",
                    r.id,
                    r.reference,
                    r.contact_id,
                    conversations.get(r.contact_id),
                    None,
                    r.request_type,
                    r.status,
                    False,
                    r.submitted_at,
                    r.decision_due,
                    r.assigned_to,
                )
                for r in requests
            ]
        return sorted(items, key=lambda item: item.opened_at)

    async def conversation(self, conversation_id: int) -> ConversationView | None:
        return await self.db.run(self._conversation, conversation_id)

    def _conversation(self, conversation_id: int) -> ConversationView | None:
        with self.db.sessions() as session:
            row = session.execute(
                select(Conversation, Contact)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Conversation.id == conversation_id)
            ).first()
            if row is None:
                return None
            conversation, contact = row
            state = conversation.state or {}
            return ConversationView(
                id=conversation.id,
                contact_id=contact.id,
                language=contact.language,
                display_name=contact.display_name,
                flow=state.get("flow"),
                route=conversation_reply_route(session, conversation),
                timeline=_timeline(session, conversation.id),
                notes=tuple(
                    Note(n.author, n.body, n.created_at)
                    for n in session.scalars(
                        select(StaffNote)
                        .where(StaffNote.conversation_id == conversation.id)
                        .order_by(StaffNote.id)
                    )
                ),
                handoffs=tuple(
                    HandoffView(
                        h.id, h.domain, h.reason, h.status, h.opened_at, h.closed_at, h.assigned_to
                    )
                    for h in session.scalars(
                        select(Handoff)
                        .where(Handoff.conversation_id == conversation.id)
                        .order_by(Handoff.id)
                    )
                ),
            )

    async def reply_route(self, conversation_id: int) -> ReplyRoute | None:
        return await self.db.run(self._reply_route_of, conversation_id)

    def _reply_route_of(self, conversation_id: int) -> ReplyRoute | None:
        with self.db.sessions() as session:
            conversation = session.get(Conversation, conversation_id)
            return None if conversation is None else conversation_reply_route(session, conversation)

    async def attachment(self, media_id: int) -> StoredFile | None:
        return await self.db.run(self._attachment, media_id)

    def _attachment(self, media_id: int) -> StoredFile | None:
        with self.db.sessions() as session:
            return stored_file(session, media_id)

    async def media_of(self, kept: list[dict[str, Any]]) -> list[TimelineMedia | None]:
        """For attachments a request or complaint keeps (bot/storage/attachments.py
        `reference`), the rows the console opens them by; None where there is none."""
        return await self.db.run(self._media_of, kept)

    def _media_of(self, kept: list[dict[str, Any]]) -> list[TimelineMedia | None]:
        found: list[TimelineMedia | None] = []
        with self.db.sessions() as session:
            for entry in kept:
                message_id, position = entry.get("message_id"), entry.get("media_index")
                row = None
                if isinstance(message_id, int) and isinstance(position, int):
                    row = session.scalar(
                        select(MessageMedia).where(
                            MessageMedia.message_id == message_id,
                            MessageMedia.position == position,
                        )
                    )
                found.append(
                    None if row is None else TimelineMedia(row.id, row.content_type, row.status)
                )
        return found

    async def handoff(self, handoff_id: int) -> HandoffView | None:
        return await self.db.run(self._handoff, handoff_id)

    def _handoff(self, handoff_id: int) -> HandoffView | None:
        with self.db.sessions() as session:
            h = session.get(Handoff, handoff_id)
            if h is None:
                return None
            return HandoffView(
                h.id, h.domain, h.reason, h.status, h.opened_at, h.closed_at, h.assigned_to
            )

    async def conversation_of_handoff(self, handoff_id: int) -> int | None:
        return await self.db.run(self._conversation_of_handoff, handoff_id)

    def _conversation_of_handoff(self, handoff_id: int) -> int | None:
        with self.db.sessions() as session:
            value: int | None = session.scalar(
                select(Handoff.conversation_id).where(Handoff.id == handoff_id)
            )
            return value


def _conversations_of(session: Session, contact_ids: set[int]) -> dict[int, int]:
    """The conversation of each of these contacts (one per contact)."""
    if not contact_ids:
        return {}
    return {
        contact_id: conversation_id
        for conversation_id, contact_id in session.execute(
            select(Conversation.id, Conversation.contact_id).where(
                Conversation.contact_id.in_(contact_ids)
            )
        )
    }


def conversation_reply_route(session: Session, conversation: Conversation) -> ReplyRoute | None:
    address_id = conversation.last_address_id
    if address_id is None:
        return None
    kind = session.scalar(select(ContactAddress.kind).where(ContactAddress.id == address_id))
    last = session.execute(
        select(Message.channel, Message.created_at)
        .where(
            Message.conversation_id == conversation.id,
            Message.address_id == address_id,
            Message.direction == "in",
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    ).first()
    if kind is None or last is None:
        return None
    return ReplyRoute(address_id, kind, last.channel, last.created_at)


def _timeline(session: Session, conversation_id: int) -> tuple[TimelineEntry, ...]:
    rows = session.execute(
        select(Message, ContactAddress.kind)
        .join(ContactAddress, ContactAddress.id == Message.address_id)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at, Message.id)
        .limit(TIMELINE_LIMIT)
    ).all()
    media: dict[int, list[TimelineMedia]] = {}
    ids = [message.id for message, _kind in rows]
    for m in session.scalars(
        select(MessageMedia)
        .where(MessageMedia.message_id.in_(ids))
        .order_by(MessageMedia.message_id, MessageMedia.position)
    ):
        media.setdefault(m.message_id, []).append(TimelineMedia(m.id, m.content_type, m.status))
    entries = []
    for message, kind in rows:
        payload = message.payload or {}
        template = payload.get("template") if message.direction == "out" else None
        entries.append(
            TimelineEntry(
                id=message.id,
                at=message.created_at,
                direction=message.direction,
                channel=message.channel,
                address_kind=kind,
                text=message.body or "",
                button_id=payload.get("button_id") if message.direction == "in" else None,
                template=template.get("name") if isinstance(template, dict) else None,
                status=message.status,
                error_code=message.error_code,
                sent_by=payload.get("sent_by"),
                media=tuple(media.get(message.id, ())),
                journey=message.journey,
            )
        )
    return tuple(entries)


@dataclass(frozen=True)
class StoredFile:
    """An attachment the worker kept, as the console serves it (found by its row's id)."""

    id: int
    contact_id: int
    content_type: str
    stored_path: str | None
    status: str


def stored_file(session: Session, media_id: int) -> StoredFile | None:
    row = session.execute(
        select(MessageMedia, Conversation.contact_id)
        .join(Message, Message.id == MessageMedia.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(MessageMedia.id == media_id)
    ).first()
    if row is None:
        return None
    media, contact_id = row
    return StoredFile(media.id, contact_id, media.content_type, media.stored_path, media.status)
