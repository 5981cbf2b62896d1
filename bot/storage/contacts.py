"""Contacts and their addresses: what the association holds about one ("my data"), a
message to a phone that has not written yet, and a verified phone's contact merged into this
one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.crypto import Cipher
from bot.db import Database
from bot.models import AddressKind, DeliveryStatus, OutboundMessage, utcnow
from bot.storage.audit import add_contact_audit
from bot.tables import (
    Complaint,
    ConsentRecord,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    StaffTask,
    SupportRequest,
)


@dataclass(frozen=True)
class ContactSummary:
    """What the association holds about a contact, for "privacy and my data"."""

    channels: tuple[str, ...]
    language: str | None
    has_name: bool
    has_national_id: bool
    messages: int
    requests: tuple[str, ...]
    complaints: tuple[str, ...]
    updates_consent: bool | None
    since: datetime


class Contacts:
    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher

    async def queue_to_phone(self, channel: str, kind: AddressKind, phone: str, text: str) -> int:
        """Store a message to a phone that may not have written yet (a verification code);
        returns its id, for the caller to queue. The phone gets its own contact until it is
        verified: no one can attach a number they cannot read."""
        return await self.db.run(self._queue_to_phone, channel, kind, phone, text)

    def _queue_to_phone(self, channel: str, kind: AddressKind, phone: str, text: str) -> int:
        phone_hash = self.cipher.lookup_hash(phone)
        now = utcnow()
        with self.db.sessions.begin() as session:
            address = session.scalar(
                select(ContactAddress).where(
                    ContactAddress.kind == kind.value, ContactAddress.address_hash == phone_hash
                )
            )
            if address is None:
                contact = Contact()
                session.add(contact)
                session.flush()
                address = ContactAddress(
                    contact_id=contact.id, kind=kind.value, address=phone, address_hash=phone_hash
                )
                session.add(address)
                session.flush()
                session.add(Conversation(contact_id=contact.id, last_address_id=address.id))
                session.flush()
            conversation_id = session.scalar(
                select(Conversation.id).where(Conversation.contact_id == address.contact_id)
            )
            message = Message(
                conversation_id=conversation_id,
                address_id=address.id,
                direction="out",
                channel=channel,
                body=text,
                payload=OutboundMessage(text).to_json(),
                status=DeliveryStatus.QUEUED.value,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            session.add(message)
            session.flush()
            return message.id

    async def link_phone(self, contact_id: int, phone: str) -> None:
        """After the code was verified: the phone's contact, with all its history, becomes
        part of this one (both WhatsApp and SMS addresses of the number)."""
        await self.db.run(self._link_phone, contact_id, phone)

    def _link_phone(self, contact_id: int, phone: str) -> None:
        phone_hash = self.cipher.lookup_hash(phone)
        with self.db.sessions.begin() as session:
            others = set(
                session.scalars(
                    select(ContactAddress.contact_id).where(
                        ContactAddress.kind.in_(("sms", "whatsapp")),
                        ContactAddress.address_hash == phone_hash,
                        ContactAddress.contact_id != contact_id,
                    )
                )
            )
            for other in others:
                _merge_contact(session, into=contact_id, other=other)
            add_contact_audit(session, contact_id, "contact.phone_linked", str(sorted(others)))

    async def summary(self, contact_id: int) -> ContactSummary:
        return await self.db.run(self._summary, contact_id)

    def _summary(self, contact_id: int) -> ContactSummary:
        with self.db.sessions() as session:
            contact = session.get(Contact, contact_id)
            if contact is None:
                raise KeyError(contact_id)
            kinds = session.scalars(
                select(ContactAddress.kind).where(ContactAddress.contact_id == contact_id)
            ).all()
            address_ids = select(ContactAddress.id).where(ContactAddress.contact_id == contact_id)
            messages = session.scalar(
                select(func.count(Message.id)).where(Message.address_id.in_(address_ids))
            )
            requests = session.scalars(
                select(SupportRequest.reference).where(SupportRequest.contact_id == contact_id)
            ).all()
            complaints = session.scalars(
                select(Complaint.reference).where(Complaint.contact_id == contact_id)
            ).all()
            consent = session.scalar(
                select(ConsentRecord.granted)
                .where(ConsentRecord.contact_id == contact_id, ConsentRecord.purpose == "updates")
                .order_by(ConsentRecord.id.desc())
                .limit(1)
            )
            return ContactSummary(
                channels=tuple(sorted(set(kinds))),
                language=contact.language,
                has_name=bool(contact.display_name),
                has_national_id=bool(contact.national_id_hash),
                messages=int(messages or 0),
                requests=tuple(requests),
                complaints=tuple(complaints),
                updates_consent=consent,
                since=contact.created_at,
            )


def _merge_contact(session: Session, *, into: int, other: int) -> None:
    """Move everything of contact `other` to contact `into`, then remove `other`."""
    conversation = session.scalar(select(Conversation.id).where(Conversation.contact_id == into))
    old_conversation = session.scalar(
        select(Conversation.id).where(Conversation.contact_id == other)
    )
    session.execute(
        update(Message)
        .where(Message.conversation_id == old_conversation)
        .values(conversation_id=conversation)
    )
    session.execute(
        update(Handoff)
        .where(Handoff.contact_id == other)
        .values(contact_id=into, conversation_id=conversation)
    )
    for model in (ContactAddress, ConsentRecord, SupportRequest, Complaint, StaffTask):
        session.execute(update(model).where(model.contact_id == other).values(contact_id=into))
    kept, gone = session.get(Contact, into), session.get(Contact, other)
    if kept is not None and gone is not None:
        kept.display_name = kept.display_name or gone.display_name
        if not kept.national_id_hash:
            kept.national_id, kept.national_id_hash = gone.national_id, gone.national_id_hash
        kept.language = kept.language or gone.language
    session.execute(delete(Conversation).where(Conversation.id == old_conversation))
    session.execute(delete(Contact).where(Contact.id == other))
