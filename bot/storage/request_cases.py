"""Support requests as the console reads them: the list (without answers) and one request
with its decrypted answers, its attestation and every status change with its note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import Database
from bot.tables import Conversation, RequestStatusEvent, SupportRequest

LIST_LIMIT = 500


@dataclass(frozen=True)
class RequestEvent:
    status: str
    at: datetime
    actor: str
    note: str | None
    decided_on: date | None


@dataclass(frozen=True)
class RequestDetail:
    id: int
    reference: str
    contact_id: int
    conversation_id: int | None
    request_type: str
    status: str
    answers: dict[str, Any]
    channel: str
    attestation_version: str
    attested_at: datetime
    submitted_at: datetime
    decision_due: datetime
    events: tuple[RequestEvent, ...]
    assigned_to: str | None = None


class RequestCases:
    """Each call is one read on a database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def requests(
        self, status: str | None = None, request_type: str | None = None
    ) -> list[RequestDetail]:
        """Support requests, newest first, without their answers (a list shows none)."""
        return await self.db.run(self._requests, status, request_type)

    def _requests(self, status: str | None, request_type: str | None) -> list[RequestDetail]:
        query = select(SupportRequest).order_by(SupportRequest.id.desc()).limit(LIST_LIMIT)
        if status:
            query = query.where(SupportRequest.status == status)
        if request_type:
            query = query.where(SupportRequest.request_type == request_type)
        with self.db.sessions() as session:
            return [_request_detail(session, r, with_answers=False) for r in session.scalars(query)]

    async def request(self, reference: str) -> RequestDetail | None:
        """One request with its (decrypted) answers and every status change."""
        return await self.db.run(self._request, reference)

    def _request(self, reference: str) -> RequestDetail | None:
        with self.db.sessions() as session:
            r = session.scalar(select(SupportRequest).where(SupportRequest.reference == reference))
            return None if r is None else _request_detail(session, r, with_answers=True)


def _request_detail(session: Session, r: SupportRequest, *, with_answers: bool) -> RequestDetail:
    events = session.execute(
        select(RequestStatusEvent)
        .where(RequestStatusEvent.request_id == r.id)
        .order_by(RequestStatusEvent.id)
    ).scalars()
    conversation_id = session.scalar(
        select(Conversation.id).where(Conversation.contact_id == r.contact_id)
    )
    return RequestDetail(
        id=r.id,
        reference=r.reference,
        contact_id=r.contact_id,
        conversation_id=conversation_id,
        request_type=r.request_type,
        status=r.status,
        answers=dict(r.answers or {}) if with_answers else {},
        channel=r.channel,
        attestation_version=r.attestation_version,
        attested_at=r.attested_at,
        submitted_at=r.submitted_at,
        decision_due=r.decision_due,
        events=tuple(
            RequestEvent(e.status, e.at, e.actor, e.note if with_answers else None, e.decided_on)
            for e in events
        ),
        assigned_to=r.assigned_to,
    )
