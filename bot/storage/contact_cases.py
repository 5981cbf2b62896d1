"""Beneficiaries as staff find and handle them in the console: find by phone, national ID or a
reference (values are encrypted, so by their keyed hashes), the contact card, merging two
contacts (one stays, the history joins), a deletion request (personal fields erased, the
records kept as counts for reports) and a data-access request (everything held, as JSON).
Each change is one transaction with its audit row."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import PHONE_KINDS, DeliveryStatus, utcnow
from bot.storage.casework import NotAllowed, audit_entry
from bot.storage.handoffs import close_tasks
from bot.tables import (
    Complaint,
    ConsentRecord,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    MessageMedia,
    StaffNote,
    StaffTask,
    SupportRequest,
)
from bot.tables_faq import UnansweredQuestion
from bot.tables_quality import Survey

ERASED = "—"
# The staff task the privacy journey opens for a deletion request (handlers/privacy.py
# DATA_DELETION); the erase closes it.
DATA_DELETION_TASK = "data_deletion"
# The status of a message the worker has not finished with.
_UNSENT = (DeliveryStatus.QUEUED.value,)


@dataclass(frozen=True)
class AddressView:
    kind: str
    address: str
    stopped: bool
    since: datetime


@dataclass(frozen=True)
class ConsentView:
    purpose: str
    granted: bool
    channel: str
    source: str
    wording_version: str
    at: datetime


@dataclass(frozen=True)
class ContactCard:
    id: int
    conversation_id: int | None
    display_name: str | None
    has_national_id: bool
    language: str | None
    since: datetime
    addresses: tuple[AddressView, ...]
    consent: tuple[ConsentView, ...]
    requests: tuple[tuple[str, str, datetime], ...]  # reference, status, submitted
    complaints: tuple[tuple[str, str, datetime], ...]
    handoffs: tuple[tuple[int, str, datetime], ...]  # id, status, opened


class ContactCases:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def find(
        self,
        phone_hash: str | None = None,
        national_id_hash: str | None = None,
        reference: str | None = None,
        name_hash: str | None = None,
    ) -> list[int]:
        """The contacts matching a phone (WhatsApp or SMS), a national ID, a reference, or
        exactly a name (the name a channel gave, or the one written in a request's form)."""
        return await self.db.run(self._find, phone_hash, national_id_hash, reference, name_hash)

    def _find(
        self,
        phone_hash: str | None,
        national_id_hash: str | None,
        reference: str | None,
        name_hash: str | None,
    ) -> list[int]:
        found: set[int] = set()
        with self.db.sessions() as session:
            if name_hash:
                found |= _by_hash(
                    session, Contact.display_name_hash, SupportRequest.name_hash, name_hash
                )
            if phone_hash:
                found.update(
                    session.scalars(
                        select(ContactAddress.contact_id).where(
                            ContactAddress.kind.in_(PHONE_KINDS),
                            ContactAddress.address_hash == phone_hash,
                        )
                    )
                )
            if national_id_hash:
                found |= _by_hash(
                    session,
                    Contact.national_id_hash,
                    SupportRequest.national_id_hash,
                    national_id_hash,
                )
            if reference:
                for model in (SupportRequest, Complaint, StaffTask):
                    found.update(
                        session.scalars(
                            select(model.contact_id).where(model.reference == reference)
                        )
                    )
        return sorted(found)

    async def card(self, contact_id: int) -> ContactCard | None:
        return await self.db.run(self._card, contact_id)

    def _card(self, contact_id: int) -> ContactCard | None:
        with self.db.sessions() as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                return None
            of = contact_id
            return ContactCard(
                id=contact.id,
                conversation_id=session.scalar(
                    select(Conversation.id).where(Conversation.contact_id == of)
                ),
                display_name=contact.display_name,
                has_national_id=bool(contact.national_id_hash),
                language=contact.language,
                since=contact.created_at,
                addresses=tuple(
                    AddressView(a.kind, a.address, a.stopped_at is not None, a.created_at)
                    for a in session.scalars(
                        select(ContactAddress)
                        .where(ContactAddress.contact_id == of)
                        .order_by(ContactAddress.id)
                    )
                ),
                consent=tuple(
                    ConsentView(
                        c.purpose, c.granted, c.channel, c.source, c.wording_version, c.created_at
                    )
                    for c in session.scalars(
                        select(ConsentRecord)
                        .where(ConsentRecord.contact_id == of)
                        .order_by(ConsentRecord.id)
                    )
                ),
                requests=tuple(
                    (r.reference, r.status, r.submitted_at)
                    for r in session.scalars(
                        select(SupportRequest).where(SupportRequest.contact_id == of)
                    )
                ),
                complaints=tuple(
                    (c.reference, c.status, c.created_at)
                    for c in session.scalars(select(Complaint).where(Complaint.contact_id == of))
                ),
                handoffs=tuple(
                    (h.id, h.status, h.opened_at)
                    for h in session.scalars(select(Handoff).where(Handoff.contact_id == of))
                ),
            )

    async def merge(self, kept: int, gone: int, actor: str) -> None:
        """Everything of contact `gone` joins contact `kept`, then `gone` is removed."""
        await self.db.run(self._merge, kept, gone, actor)

    def _merge(self, kept: int, gone: int, actor: str) -> None:
        if kept == gone:
            raise NotAllowed("a contact cannot be merged into itself")
        with self.db.sessions.begin() as session:
            into, other = session.get(Contact, kept), session.get(Contact, gone)
            if into is None or other is None:
                raise KeyError(gone if other is None else kept)
            conversation = _conversation_of(session, kept)
            old = _conversation_of(session, gone)
            if old is not None and conversation is not None:
                for model in (Message, StaffNote):
                    session.execute(
                        update(model)
                        .where(model.conversation_id == old)
                        .values(conversation_id=conversation)
                    )
                session.execute(
                    update(Handoff)
                    .where(Handoff.contact_id == gone)
                    .values(contact_id=kept, conversation_id=conversation)
                )
            owners = (ContactAddress, ConsentRecord, SupportRequest, Complaint, StaffTask)
            for owned in (*owners, UnansweredQuestion, Survey):
                session.execute(
                    update(owned).where(owned.contact_id == gone).values(contact_id=kept)
                )
            if not into.display_name:
                into.display_name, into.display_name_hash = (
                    other.display_name,
                    other.display_name_hash,
                )
            if not into.national_id_hash:
                into.national_id, into.national_id_hash = other.national_id, other.national_id_hash
            into.language = into.language or other.language
            if old is not None:
                session.execute(delete(Conversation).where(Conversation.id == old))
            session.execute(delete(Contact).where(Contact.id == gone))
            session.add(audit_entry(actor, "contact.merged", "contact", kept, {"merged": gone}))

    async def erase(self, contact_id: int, actor: str) -> list[str]:
        """The deletion request: personal fields erased or anonymised, the records kept (so
        reports still count them), the addresses stopped; returns the stored files to remove."""
        return await self.db.run(self._erase, contact_id, actor)

    def _erase(self, contact_id: int, actor: str) -> list[str]:
        now = utcnow()
        with self.db.sessions.begin() as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                raise KeyError(contact_id)
            contact.display_name = contact.display_name_hash = None
            contact.national_id = None
            contact.national_id_hash = None
            for address in session.scalars(
                select(ContactAddress).where(ContactAddress.contact_id == contact_id)
            ):
                address.address = ERASED
                address.address_hash = f"erased:{address.id}"  # free for a new contact
                address.stopped_at = address.stopped_at or now
            conversation = _conversation_of(session, contact_id)
            files: list[str] = []
            if conversation is not None:
                session.execute(
                    update(Conversation).where(Conversation.id == conversation).values(state=None)
                )
                message_ids = select(Message.id).where(Message.conversation_id == conversation)
                files = [
                    path
                    for path in session.scalars(
                        select(MessageMedia.stored_path).where(
                            MessageMedia.message_id.in_(message_ids)
                        )
                    )
                    if path
                ]
                session.execute(
                    update(MessageMedia)
                    .where(MessageMedia.message_id.in_(message_ids))
                    .values(url=None, filename=None, stored_path=None, status="erased")
                )
                for message in session.scalars(
                    select(Message).where(Message.conversation_id == conversation)
                ):
                    message.body = None
                    message.payload = {"text": "", "erased": True}
                    if message.status == "queued":
                        message.status = "failed"  # nothing more goes to an erased address
                session.execute(
                    update(StaffNote)
                    .where(StaffNote.conversation_id == conversation)
                    .values(body=ERASED)
                )
            for request in session.scalars(
                select(SupportRequest).where(SupportRequest.contact_id == contact_id)
            ):
                request.answers = {}
                request.national_id_hash = f"erased:{request.id}"
                request.name_hash = None
            for complaint in session.scalars(
                select(Complaint).where(Complaint.contact_id == contact_id)
            ):
                complaint.description = ERASED
                complaint.attachments = None
            session.execute(
                update(StaffTask).where(StaffTask.contact_id == contact_id).values(details=None)
            )
            # The questions the FAQ could not answer are their words too.
            session.execute(
                delete(UnansweredQuestion).where(UnansweredQuestion.contact_id == contact_id)
            )
            # The ratings stay for the reports; the beneficiary's own words do not.
            session.execute(
                update(Survey).where(Survey.contact_id == contact_id).values(comment=None)
            )
            closed = close_tasks(session, contact_id, DATA_DELETION_TASK, actor, now)
            if closed:
                session.add(
                    audit_entry(actor, "task.closed", "contact", contact_id, {"tasks": closed})
                )
            session.add(
                audit_entry(
                    actor,
                    "contact.erased",
                    "contact",
                    contact_id,
                    {"fields": ["name", "national_id", "addresses", "messages", "answers"]},
                )
            )
            return files

    async def wait_until_sent(self, message_id: int, within: float, every: float = 0.2) -> bool:
        """Wait (up to `within` seconds) for the worker to be done with a message: the
        deletion notice must leave before the erase wipes the address it goes to. True when
        it left (sent or failed for good), False when it is still waiting."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            status = await self.db.run(self._status, message_id)
            if status not in _UNSENT:
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(every)

    def _status(self, message_id: int) -> str | None:
        with self.db.sessions() as session:
            status: str | None = session.scalar(
                select(Message.status).where(Message.id == message_id)
            )
            return status

    async def export(self, contact_id: int) -> dict[str, Any] | None:
        """The data-access request: what the association holds about the contact."""
        return await self.db.run(self._export, contact_id)

    def _export(self, contact_id: int) -> dict[str, Any] | None:
        card = self._card(contact_id)
        if card is None:
            return None
        with self.db.sessions() as session:
            contact = session.get(Contact, contact_id)
            assert contact is not None
            conversation = card.conversation_id
            messages = (
                session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation)
                    .order_by(Message.created_at, Message.id)
                ).all()
                if conversation is not None
                else []
            )
            return {
                "contact": {
                    "name": contact.display_name,
                    "national_id": contact.national_id,
                    "language": contact.language,
                    "since": contact.created_at.isoformat(),
                },
                "addresses": [
                    {
                        "kind": a.kind,
                        "address": a.address,
                        "stopped": a.stopped,
                        "since": str(a.since),
                    }
                    for a in card.addresses
                ],
                "consent": [
                    {
                        "purpose": c.purpose,
                        "granted": c.granted,
                        "channel": c.channel,
                        "wording_version": c.wording_version,
                        "at": c.at.isoformat(),
                    }
                    for c in card.consent
                ],
                "messages": [
                    {
                        "at": m.created_at.isoformat(),
                        "direction": m.direction,
                        "channel": m.channel,
                        "text": m.body,
                        "status": m.status,
                    }
                    for m in messages
                ],
                "support_requests": [
                    {
                        "reference": r.reference,
                        "type": r.request_type,
                        "status": r.status,
                        "answers": r.answers,
                        "submitted_at": r.submitted_at.isoformat(),
                    }
                    for r in session.scalars(
                        select(SupportRequest).where(SupportRequest.contact_id == contact_id)
                    )
                ],
                "complaints": [
                    {
                        "reference": c.reference,
                        "category": c.category,
                        "status": c.status,
                        "description": c.description,
                        "response": c.response,
                        "created_at": c.created_at.isoformat(),
                    }
                    for c in session.scalars(
                        select(Complaint).where(Complaint.contact_id == contact_id)
                    )
                ],
            }


def _by_hash(session: Session, on_contact: Any, on_request: Any, value: str) -> set[int]:
    """The contacts whose own hash, or one of whose requests' hash, is `value` (a national
    ID or a name is kept on both: the request keeps what its form was given)."""
    return set(session.scalars(select(Contact.id).where(on_contact == value))) | set(
        session.scalars(select(SupportRequest.contact_id).where(on_request == value))
    )


def _conversation_of(session: Session, contact_id: int) -> int | None:
    value: int | None = session.scalar(
        select(Conversation.id).where(Conversation.contact_id == contact_id)
    )
    return value
