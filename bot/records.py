"""The journeys' records: support requests, complaints, hand-offs, staff tasks.

Handlers reach these through `Records` during a turn (a status lookup must read, a submission
must return its reference number); each call is one transaction on the database threads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import (
    AuditEntry,
    Complaint,
    ConsentRecord,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    RequestStatusEvent,
    StaffTask,
    SupportRequest,
)
from bot.models import AddressKind, DeliveryStatus, OutboundMessage, utcnow
from bot.storage import Store
from bot.text import normalize_digits

OPEN_REQUEST_STATUSES = ("submitted", "under_review")
REQUEST_PREFIX, COMPLAINT_PREFIX, TASK_PREFIX = "R", "C", "T"
REFERENCE_OFFSET = 100000


class DuplicateRequestError(Exception):
    """The national ID already has an open request; `reference` is that request's."""

    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


@dataclass(frozen=True)
class RequestView:
    reference: str
    contact_id: int
    request_type: str
    status: str
    submitted_at: datetime
    decision_due: datetime
    history: tuple[tuple[str, datetime], ...]


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


def reference_number(text: str) -> int | None:
    """The number in a typed reference ("R-100042", "r100042", or in Arabic-Indic digits)."""
    digits = "".join(ch for ch in normalize_digits(text) if ch.isdigit())
    return int(digits) if digits and len(digits) <= 9 else None


def _make_reference(prefix: str, row_id: int) -> str:
    return f"{prefix}-{REFERENCE_OFFSET + row_id}"


class Records:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def _db(self) -> Any:
        return self.store.db

    # -- support requests -------------------------------------------------------------------
    async def open_request(self, national_id_hash: str) -> str | None:
        """The reference of this national ID's open request, if any."""
        return await self._db.run(self._open_request, national_id_hash)

    def _open_request(self, national_id_hash: str) -> str | None:
        with self._db.sessions() as session:
            reference: str | None = session.scalar(
                select(SupportRequest.reference).where(
                    SupportRequest.national_id_hash == national_id_hash,
                    SupportRequest.status.in_(OPEN_REQUEST_STATUSES),
                )
            )
            return reference

    async def submit_request(
        self,
        *,
        contact_id: int,
        channel: str,
        request_type: str,
        national_id: str,
        answers: dict[str, Any],
        attestation_version: str,
        attested_at: datetime,
        decision_days: int,
    ) -> RequestView:
        """Store a request with its attestation; DuplicateRequestError if one is open."""
        national_id_hash = self.store.cipher.lookup_hash(national_id)
        try:
            return await self._db.run(
                self._submit_request,
                contact_id,
                channel,
                request_type,
                national_id,
                national_id_hash,
                answers,
                attestation_version,
                attested_at,
                decision_days,
            )
        except IntegrityError:
            existing = await self.open_request(national_id_hash)
            if existing is None:
                raise
            raise DuplicateRequestError(existing) from None

    def _submit_request(
        self,
        contact_id: int,
        channel: str,
        request_type: str,
        national_id: str,
        national_id_hash: str,
        answers: dict[str, Any],
        attestation_version: str,
        attested_at: datetime,
        decision_days: int,
    ) -> RequestView:
        now = utcnow()
        with self._db.sessions.begin() as session:
            existing = session.scalar(
                select(SupportRequest.reference).where(
                    SupportRequest.national_id_hash == national_id_hash,
                    SupportRequest.status.in_(OPEN_REQUEST_STATUSES),
                )
            )
            if existing is not None:
                raise DuplicateRequestError(existing)
            request = SupportRequest(
                reference=f"tmp-{uuid.uuid4().hex[:16]}",
                contact_id=contact_id,
                request_type=request_type,
                status="submitted",
                national_id_hash=national_id_hash,
                answers=answers,
                channel=channel,
                attestation_version=attestation_version,
                attested_at=attested_at,
                submitted_at=now,
                decision_due=now + timedelta(days=decision_days),
            )
            session.add(request)
            session.flush()
            request.reference = _make_reference(REQUEST_PREFIX, request.id)
            session.add(
                RequestStatusEvent(
                    request_id=request.id, status="submitted", at=now, actor=f"contact:{contact_id}"
                )
            )
            session.execute(
                update(Contact)
                .where(Contact.id == contact_id)
                .values(national_id=national_id, national_id_hash=national_id_hash)
            )
            _audit(session, contact_id, "support_request.submitted", request.reference)
            session.flush()
            return _request_view(session, request)

    async def request(self, reference: str) -> RequestView | None:
        """A request by its reference as typed; None if there is no such request."""
        number = reference_number(reference)
        if number is None or number <= REFERENCE_OFFSET:
            return None
        return await self._db.run(
            self._request, _make_reference(REQUEST_PREFIX, number - REFERENCE_OFFSET)
        )

    def _request(self, reference: str) -> RequestView | None:
        with self._db.sessions() as session:
            request = session.scalar(
                select(SupportRequest).where(SupportRequest.reference == reference)
            )
            return None if request is None else _request_view(session, request)

    async def requests_of(self, contact_id: int) -> list[RequestView]:
        return await self._db.run(self._requests_of, contact_id)

    def _requests_of(self, contact_id: int) -> list[RequestView]:
        with self._db.sessions() as session:
            requests = session.scalars(
                select(SupportRequest)
                .where(SupportRequest.contact_id == contact_id)
                .order_by(SupportRequest.id)
            ).all()
            return [_request_view(session, request) for request in requests]

    async def identity_matches(
        self, reference: str, national_id: str, birth_date: str, birth_fields: list[str]
    ) -> bool:
        """Whether the request was filed with this national ID and this date of birth (ISO),
        so a beneficiary may see it from a contact that did not file it."""
        view = await self.request(reference)
        if view is None:
            return False
        wanted = self.store.cipher.lookup_hash(national_id)
        stored_hash, answers = await self._db.run(self._identity_of, view.reference)
        birth_dates = {answers.get(field) for field in birth_fields}
        return stored_hash == wanted and birth_date in birth_dates

    def _identity_of(self, reference: str) -> tuple[str, dict[str, Any]]:
        with self._db.sessions() as session:
            row = session.execute(
                select(SupportRequest.national_id_hash, SupportRequest.answers).where(
                    SupportRequest.reference == reference
                )
            ).one()
            return row[0], dict(row[1] or {})

    async def set_request_status(self, reference: str, status: str, actor: str) -> None:
        await self._db.run(self._set_request_status, reference, status, actor)

    def _set_request_status(self, reference: str, status: str, actor: str) -> None:
        with self._db.sessions.begin() as session:
            request = session.scalar(
                select(SupportRequest).where(SupportRequest.reference == reference)
            )
            if request is None:
                raise KeyError(reference)
            request.status = status
            session.add(RequestStatusEvent(request_id=request.id, status=status, actor=actor))

    # -- complaints -------------------------------------------------------------------------
    async def file_complaint(
        self,
        *,
        contact_id: int,
        channel: str,
        category: str,
        urgent: bool,
        description: str,
        attachments: list[dict[str, Any]],
        respond_within: timedelta,
    ) -> tuple[str, datetime]:
        """Store a complaint; returns its reference and the time we promised to respond by."""
        return await self._db.run(
            self._file_complaint,
            contact_id,
            channel,
            category,
            urgent,
            description,
            attachments,
            respond_within,
        )

    def _file_complaint(
        self,
        contact_id: int,
        channel: str,
        category: str,
        urgent: bool,
        description: str,
        attachments: list[dict[str, Any]],
        respond_within: timedelta,
    ) -> tuple[str, datetime]:
        now = utcnow()
        with self._db.sessions.begin() as session:
            complaint = Complaint(
                reference=f"tmp-{uuid.uuid4().hex[:16]}",
                contact_id=contact_id,
                category=category,
                urgent=urgent,
                description=description,
                attachments=attachments or None,
                status="open",
                channel=channel,
                created_at=now,
                respond_by=now + respond_within,
            )
            session.add(complaint)
            session.flush()
            complaint.reference = _make_reference(COMPLAINT_PREFIX, complaint.id)
            _audit(session, contact_id, "complaint.filed", complaint.reference)
            return complaint.reference, complaint.respond_by

    # -- hand-offs --------------------------------------------------------------------------
    async def open_handoff(
        self, contact_id: int, conversation_id: int, domain: str, officer_email: str, reason: str
    ) -> int:
        return await self._db.run(
            self._open_handoff, contact_id, conversation_id, domain, officer_email, reason
        )

    def _open_handoff(
        self, contact_id: int, conversation_id: int, domain: str, officer_email: str, reason: str
    ) -> int:
        with self._db.sessions.begin() as session:
            handoff = Handoff(
                contact_id=contact_id,
                conversation_id=conversation_id,
                domain=domain,
                officer_email=officer_email,
                reason=reason,
                status="open",
            )
            session.add(handoff)
            session.flush()
            _audit(session, contact_id, "handoff.opened", str(handoff.id))
            return handoff.id

    async def handoff_open(self, handoff_id: int) -> bool:
        return await self.store.handoff_status(handoff_id) == "open"

    async def close_handoff(self, handoff_id: int, closed_by: str) -> None:
        await self._db.run(self._close_handoff, handoff_id, closed_by)

    def _close_handoff(self, handoff_id: int, closed_by: str) -> None:
        with self._db.sessions.begin() as session:
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id)
                .values(status="closed", closed_at=utcnow(), closed_by=closed_by)
            )

    # -- linking a phone --------------------------------------------------------------------
    async def queue_to_phone(self, channel: str, kind: AddressKind, phone: str, text: str) -> int:
        """Store a message to a phone that may not have written yet (a verification code);
        returns its id, for the caller to queue. The phone gets its own contact until it is
        verified: no one can attach a number they cannot read."""
        return await self._db.run(self._queue_to_phone, channel, kind, phone, text)

    def _queue_to_phone(self, channel: str, kind: AddressKind, phone: str, text: str) -> int:
        phone_hash = self.store.cipher.lookup_hash(phone)
        now = utcnow()
        with self._db.sessions.begin() as session:
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
        await self._db.run(self._link_phone, contact_id, phone)

    def _link_phone(self, contact_id: int, phone: str) -> None:
        phone_hash = self.store.cipher.lookup_hash(phone)
        with self._db.sessions.begin() as session:
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
            _audit(session, contact_id, "contact.phone_linked", str(sorted(others)))

    # -- privacy ----------------------------------------------------------------------------
    async def create_task(self, kind: str, contact_id: int, details: dict[str, Any]) -> str:
        return await self._db.run(self._create_task, kind, contact_id, details)

    def _create_task(self, kind: str, contact_id: int, details: dict[str, Any]) -> str:
        with self._db.sessions.begin() as session:
            task = StaffTask(
                reference=f"tmp-{uuid.uuid4().hex[:16]}",
                kind=kind,
                contact_id=contact_id,
                status="open",
                details=details,
            )
            session.add(task)
            session.flush()
            task.reference = _make_reference(TASK_PREFIX, task.id)
            _audit(session, contact_id, f"task.{kind}", task.reference)
            return task.reference

    async def summary(self, contact_id: int) -> ContactSummary:
        return await self._db.run(self._summary, contact_id)

    def _summary(self, contact_id: int) -> ContactSummary:
        with self._db.sessions() as session:
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


def _request_view(session: Session, request: SupportRequest) -> RequestView:
    history = session.execute(
        select(RequestStatusEvent.status, RequestStatusEvent.at)
        .where(RequestStatusEvent.request_id == request.id)
        .order_by(RequestStatusEvent.id)
    ).all()
    return RequestView(
        reference=request.reference,
        contact_id=request.contact_id,
        request_type=request.request_type,
        status=request.status,
        submitted_at=request.submitted_at,
        decision_due=request.decision_due,
        history=tuple((status, at) for status, at in history),
    )


def _audit(session: Session, contact_id: int, action: str, reference: str) -> None:
    session.add(
        AuditEntry(
            actor=f"contact:{contact_id}",
            action=action,
            subject_type="contact",
            subject_id=contact_id,
            details={"reference": reference},
        )
    )
