"""Contacts and their addresses: the language they are answered in, a message to an address
that has not written yet, a verified phone's contact merged into this one (those three in the
turn's save step), and what the association holds about a contact ("my data")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, func, or_, select, update

from bot.db import Database
from bot.effects import LinkPhone, SendToAddress, SetLanguage
from bot.models import PHONE_KINDS, DeliveryStatus, OutboundMessage
from bot.storage.turn_write import TurnWrite
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

# How a beneficiary sees the channels they use: a WhatsApp user id or group is WhatsApp too.
_CHANNEL_OF_KIND = {"whatsapp_user": "whatsapp", "whatsapp_group": "whatsapp"}

_SET_LANGUAGE = (
    update(Contact).where(Contact.id == bindparam("contact_id")).values(language=bindparam("lang"))
)
_FIND_ADDRESS = select(ContactAddress.id, ContactAddress.contact_id).where(
    ContactAddress.kind == bindparam("kind"), ContactAddress.address_hash == bindparam("hash")
)
_CONVERSATION_OF = select(Conversation.id).where(Conversation.contact_id == bindparam("contact"))
_OTHER_PHONE_CONTACTS = select(ContactAddress.contact_id).where(
    or_(*(ContactAddress.kind == kind for kind in PHONE_KINDS)),
    ContactAddress.address_hash == bindparam("hash"),
    ContactAddress.contact_id != bindparam("contact"),
)
_MOVE_MESSAGES = (
    update(Message)
    .where(Message.conversation_id == bindparam("old"))
    .values(conversation_id=bindparam("new"))
)
_MOVE_HANDOFFS = (
    update(Handoff)
    .where(Handoff.contact_id == bindparam("other"))
    .values(contact_id=bindparam("into"), conversation_id=bindparam("new"))
)
_MOVE_OWNED = [
    update(model).where(model.contact_id == bindparam("other")).values(contact_id=bindparam("into"))
    for model in (ContactAddress, ConsentRecord, SupportRequest, Complaint, StaffTask)
]
_CONTACT_DETAILS = select(
    Contact.display_name,
    Contact.national_id,
    Contact.national_id_hash,
    Contact.language,
    Contact.display_name_hash,
).where(Contact.id == bindparam("contact"))
_SET_DETAILS = (
    update(Contact)
    .where(Contact.id == bindparam("contact"))
    .values(
        display_name=bindparam("name"),
        display_name_hash=bindparam("name_hash"),
        national_id=bindparam("nid"),
        national_id_hash=bindparam("nid_hash"),
        language=bindparam("lang"),
    )
)
_DELETE_CONVERSATION = delete(Conversation).where(Conversation.id == bindparam("conversation"))
_DELETE_CONTACT = delete(Contact).where(Contact.id == bindparam("contact"))


def set_language(write: TurnWrite, effect: SetLanguage) -> None:
    write.execute(_SET_LANGUAGE, {"contact_id": write.contact_id, "lang": effect.language})


def send_to_address(write: TurnWrite, effect: SendToAddress) -> None:
    """Queue the message to the address, which gets a contact of its own if it has none: no
    one can attach a number they cannot read. The message is delivered with the replies."""
    address_hash = write.cipher.lookup_hash(effect.address)
    now = write.now
    found = write.first(_FIND_ADDRESS, {"kind": effect.kind.value, "hash": address_hash})
    if found is None:
        contact_id = write.insert("contacts", {"created_at": now})
        address_id = write.insert(
            "contact_addresses",
            {
                "contact_id": contact_id,
                "kind": effect.kind.value,
                "address": effect.address,
                "address_hash": address_hash,
                "created_at": now,
            },
        )
        conversation_id = write.insert(
            "conversations",
            {"contact_id": contact_id, "last_address_id": address_id, "updated_at": now},
        )
    else:
        address_id, contact_id = found
        conversation_id = write.scalar(_CONVERSATION_OF, {"contact": contact_id})
    message_id = write.insert(
        "messages",
        {
            "conversation_id": conversation_id,
            "address_id": address_id,
            "direction": "out",
            "channel": effect.channel,
            "body": effect.text,
            "payload": OutboundMessage(effect.text).to_json(),
            "status": DeliveryStatus.QUEUED.value,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    write.queued.append(message_id)


def link_phone(write: TurnWrite, effect: LinkPhone) -> None:
    """After the code was verified: the phone's contact, with all its history, becomes part
    of this one (both WhatsApp and SMS addresses of the number)."""
    values = {"hash": write.cipher.lookup_hash(effect.phone), "contact": write.contact_id}
    others = sorted({other for (other,) in write.all(_OTHER_PHONE_CONTACTS, values)})
    for other in others:
        _merge_contact(write, other)
    write.audit("contact.phone_linked", {"reference": str(others)})


def _merge_contact(write: TurnWrite, other: int) -> None:
    """Move everything of contact `other` to the turn's contact, then remove `other`."""
    into, conversation = write.contact_id, write.conversation_id
    old_conversation = write.scalar(_CONVERSATION_OF, {"contact": other})
    write.execute(_MOVE_MESSAGES, {"old": old_conversation, "new": conversation})
    write.execute(_MOVE_HANDOFFS, {"other": other, "into": into, "new": conversation})
    for statement in _MOVE_OWNED:
        write.execute(statement, {"other": other, "into": into})
    kept = write.first(_CONTACT_DETAILS, {"contact": into})
    gone = write.first(_CONTACT_DETAILS, {"contact": other})
    if kept is not None and gone is not None:
        name, national_id, national_id_hash, language, name_hash = kept
        if not national_id_hash:
            national_id, national_id_hash = gone[1], gone[2]
        if not name:
            name, name_hash = gone[0], gone[4]
        write.execute(
            _SET_DETAILS,
            {
                "contact": into,
                "name": name,
                "name_hash": name_hash,
                "nid": national_id,
                "nid_hash": national_id_hash,
                "lang": language or gone[3],
            },
        )
    write.execute(_DELETE_CONVERSATION, {"conversation": old_conversation})
    write.execute(_DELETE_CONTACT, {"contact": other})


@dataclass(frozen=True)
class HeldRequest:
    """A support request as "my data" lists it: which answers it keeps, and how many files."""

    reference: str
    answered: tuple[str, ...]  # ids of the form's fields it holds an answer to, in form order
    files: int


@dataclass(frozen=True)
class HeldComplaint:
    """A complaint as "my data" lists it: its description is always kept, files may be."""

    reference: str
    files: int


@dataclass(frozen=True)
class ContactSummary:
    """What the association holds about a contact, for "privacy and my data": from the contact
    itself and from every record filed by it, so nothing held is said to be missing."""

    channels: tuple[str, ...]
    language: str | None
    has_name: bool  # the name a channel gave us (a WhatsApp profile, an email's From)
    has_national_id: bool  # on the contact or on any of its requests
    messages: int
    requests: tuple[HeldRequest, ...]
    complaints: tuple[HeldComplaint, ...]
    tasks: tuple[tuple[str, str], ...]  # (reference, kind) of what was asked of staff
    updates_consent: bool | None
    since: datetime


def _held_request(request: SupportRequest) -> HeldRequest:
    answers = request.answers if isinstance(request.answers, dict) else {}
    answered = tuple(key for key, value in answers.items() if value not in (None, "", []))
    files = sum(len(value) for value in answers.values() if isinstance(value, list))
    return HeldRequest(request.reference, answered, files)


class Contacts:
    def __init__(self, db: Database) -> None:
        self.db = db

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
                select(SupportRequest)
                .where(SupportRequest.contact_id == contact_id)
                .order_by(SupportRequest.id)
            ).all()
            complaints = session.execute(
                select(Complaint.reference, Complaint.attachments)
                .where(Complaint.contact_id == contact_id)
                .order_by(Complaint.id)
            ).all()
            tasks = session.execute(
                select(StaffTask.reference, StaffTask.kind)
                .where(StaffTask.contact_id == contact_id)
                .order_by(StaffTask.id)
            ).all()
            consent = session.scalar(
                select(ConsentRecord.granted)
                .where(ConsentRecord.contact_id == contact_id, ConsentRecord.purpose == "updates")
                .order_by(ConsentRecord.id.desc())
                .limit(1)
            )
            return ContactSummary(
                channels=tuple(sorted({_CHANNEL_OF_KIND.get(kind, kind) for kind in kinds})),
                language=contact.language,
                has_name=bool(contact.display_name),
                has_national_id=bool(contact.national_id_hash) or bool(requests),
                messages=int(messages or 0),
                requests=tuple(_held_request(request) for request in requests),
                complaints=tuple(
                    HeldComplaint(reference, len(files or ())) for reference, files in complaints
                ),
                tasks=tuple((reference, kind) for reference, kind in tasks),
                updates_consent=consent,
                since=contact.created_at,
            )
