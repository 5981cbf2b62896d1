"""Support requests: filed by the turn's save step, then the open-request check, lookups by
reference and by contact, the applicant's identity check, and staff moving a request through
its statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bot.crypto import Cipher
from bot.db import Database
from bot.effects import FileRequest
from bot.storage.references import REQUEST_PREFIX, typed_reference
from bot.storage.turn_write import TurnWrite
from bot.tables import Contact, RequestStatusEvent, SupportRequest

# "needs_info" (the committee waits for papers) came with the console: still open.
OPEN_REQUEST_STATUSES = ("submitted", "under_review", "needs_info")


@dataclass(frozen=True)
class RequestView:
    reference: str
    contact_id: int
    request_type: str
    status: str
    submitted_at: datetime
    decision_due: datetime
    history: tuple[tuple[str, datetime], ...]


_SET_NATIONAL_ID = (
    update(Contact)
    .where(Contact.id == bindparam("contact_id"))
    .values(national_id=bindparam("national_id"), national_id_hash=bindparam("national_id_hash"))
)


def file_request(write: TurnWrite, effect: FileRequest) -> None:
    """Store the request with its attestation; the contact keeps the national ID.

    A second open request for the same national ID fails on the database's own unique index
    (the handler looked first), and so does the turn.
    """
    national_id_hash = write.cipher.lookup_hash(effect.national_id)
    request_id = write.insert(
        "support_requests",
        {
            "reference": effect.reference,
            "contact_id": write.contact_id,
            "request_type": effect.request_type,
            "status": "submitted",
            "national_id_hash": national_id_hash,
            "answers": effect.answers,
            "channel": write.channel,
            "attestation_version": effect.attestation_version,
            "attested_at": effect.attested_at,
            "submitted_at": write.now,
            "decision_due": effect.decision_due,
            "name_hash": write.cipher.name_hash(effect.full_name),
        },
    )
    write.insert(
        "request_status_events",
        {
            "request_id": request_id,
            "status": "submitted",
            "at": write.now,
            "actor": f"contact:{write.contact_id}",
        },
    )
    write.execute(
        _SET_NATIONAL_ID,
        {
            "contact_id": write.contact_id,
            "national_id": effect.national_id,
            "national_id_hash": national_id_hash,
        },
    )
    write.audit("support_request.submitted", {"reference": effect.reference})


class Requests:
    """Support requests; each call is one transaction on the database threads."""

    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher

    async def open_request(self, national_id: str) -> str | None:
        """The reference of this national ID's open request, if any."""
        return await self.db.run(self._open_request, self.cipher.lookup_hash(national_id))

    def _open_request(self, national_id_hash: str) -> str | None:
        with self.db.sessions() as session:
            return _open_reference(session, national_id_hash)

    async def request(self, reference: str) -> RequestView | None:
        """A request by its reference as typed; None if there is no such request."""
        stored = typed_reference(REQUEST_PREFIX, reference)
        if stored is None:
            return None
        return await self.db.run(self._request, stored)

    def _request(self, reference: str) -> RequestView | None:
        with self.db.sessions() as session:
            request = session.scalar(
                select(SupportRequest).where(SupportRequest.reference == reference)
            )
            return None if request is None else _request_view(session, request)

    async def requests_of(self, contact_id: int) -> list[RequestView]:
        return await self.db.run(self._requests_of, contact_id)

    def _requests_of(self, contact_id: int) -> list[RequestView]:
        with self.db.sessions() as session:
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
        wanted = self.cipher.lookup_hash(national_id)
        stored_hash, answers = await self.db.run(self._identity_of, view.reference)
        birth_dates = {answers.get(field) for field in birth_fields}
        return stored_hash == wanted and birth_date in birth_dates

    def _identity_of(self, reference: str) -> tuple[str, dict[str, Any]]:
        with self.db.sessions() as session:
            row = session.execute(
                select(SupportRequest.national_id_hash, SupportRequest.answers).where(
                    SupportRequest.reference == reference
                )
            ).one()
            return row[0], dict(row[1] or {})

    async def set_request_status(self, reference: str, status: str, actor: str) -> None:
        await self.db.run(self._set_request_status, reference, status, actor)

    def _set_request_status(self, reference: str, status: str, actor: str) -> None:
        with self.db.sessions.begin() as session:
            request = session.scalar(
                select(SupportRequest).where(SupportRequest.reference == reference)
            )
            if request is None:
                raise KeyError(reference)
            request.status = status
            session.add(RequestStatusEvent(request_id=request.id, status=status, actor=actor))


def _open_reference(session: Session, national_id_hash: str) -> str | None:
    reference: str | None = session.scalar(
        select(SupportRequest.reference).where(
            SupportRequest.national_id_hash == national_id_hash,
            SupportRequest.status.in_(OPEN_REQUEST_STATUSES),
        )
    )
    return reference


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
