"""Complaints as staff work them in the console: the list, one complaint with its
description and attachments, and the outcome — the response told to the beneficiary, the
resolution kept for the association, and, where the association is at fault, the
compensation decision its policy sets out (the breach is the association's failure to meet
its obligations or professional standards; it caused the harm directly; it is proven by the
association's admission or a final ruling; then the outcome of the negotiation)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.models import utcnow
from bot.storage.casework import NotAllowed, Outgoing, audit_entry, queue_notice
from bot.storage.surveys import SurveySchedule, schedule_survey
from bot.tables import Complaint, Conversation, Message

LIST_LIMIT = 500
PROOFS = ("admission", "final_ruling")


@dataclass(frozen=True)
class Compensation:
    """The policy's three conditions, and what was agreed when all three hold."""

    breach: bool  # the association failed its obligations or professional standards
    direct: bool  # and caused the harm directly
    proof: str | None  # "admission" | "final_ruling" | None (not proven)
    outcome: str  # the negotiation's result (what is given), or why none is due

    @property
    def due(self) -> bool:
        """Compensation is due only when every condition holds."""
        return self.breach and self.direct and self.proof in PROOFS

    def to_json(self) -> dict[str, Any]:
        return {
            "breach": self.breach,
            "direct": self.direct,
            "proof": self.proof,
            "outcome": self.outcome,
            "due": self.due,
        }


@dataclass(frozen=True)
class ComplaintCase:
    id: int
    reference: str
    contact_id: int
    conversation_id: int | None
    category: str
    urgent: bool
    description: str
    attachments: list[dict[str, Any]]
    status: str
    channel: str
    created_at: datetime
    respond_by: datetime
    response: str | None
    resolution: str | None
    compensation: dict[str, Any] | None
    closed_at: datetime | None
    assigned_to: str | None = None
    # The outcome's notice to the beneficiary: its delivery status and error (None: none).
    notice: tuple[str, str | None] | None = None


class ComplaintCases:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def complaints(self, status: str | None, category: str | None) -> list[ComplaintCase]:
        """Newest first, without descriptions (a list shows none)."""
        return await self.db.run(self._complaints, status, category)

    def _complaints(self, status: str | None, category: str | None) -> list[ComplaintCase]:
        query = select(Complaint).order_by(Complaint.id.desc()).limit(LIST_LIMIT)
        if status:
            query = query.where(Complaint.status == status)
        if category:
            query = query.where(Complaint.category == category)
        with self.db.sessions() as session:
            return [_case(c, None, full=False) for c in session.scalars(query)]

    async def complaint(self, reference: str) -> ComplaintCase | None:
        return await self.db.run(self._complaint, reference)

    def _complaint(self, reference: str) -> ComplaintCase | None:
        with self.db.sessions() as session:
            c = session.scalar(select(Complaint).where(Complaint.reference == reference))
            if c is None:
                return None
            conversation_id = session.scalar(
                select(Conversation.id).where(Conversation.contact_id == c.contact_id)
            )
            notice = session.execute(
                select(Message.status, Message.error_code).where(Message.id == c.notice_message_id)
            ).first()
            return replace(
                _case(c, conversation_id, full=True),
                notice=(notice.status, notice.error_code) if notice is not None else None,
            )

    async def close(
        self,
        reference: str,
        actor: str,
        response: str,
        resolution: str | None,
        compensation: Compensation | None,
        notice: Outgoing | None,
        survey: SurveySchedule | None = None,
    ) -> int | None:
        """Record the outcome and close the complaint, with the message that tells the
        beneficiary (and its survey scheduled, given `survey`); returns that message's id.
        NotAllowed if it is closed already."""
        return await self.db.run(
            self._close, reference, actor, response, resolution, compensation, notice, survey
        )

    def _close(
        self,
        reference: str,
        actor: str,
        response: str,
        resolution: str | None,
        compensation: Compensation | None,
        notice: Outgoing | None,
        survey: SurveySchedule | None = None,
    ) -> int | None:
        with self.db.sessions.begin() as session:
            c = session.scalar(select(Complaint).where(Complaint.reference == reference))
            if c is None:
                raise KeyError(reference)
            if c.status != "open":
                raise NotAllowed("the complaint is closed already")
            c.status = "closed"
            c.response = response
            c.resolution = resolution
            c.compensation = compensation.to_json() if compensation else None
            c.closed_at = utcnow()
            session.add(
                audit_entry(
                    actor,
                    "complaint.closed",
                    "complaint",
                    c.id,
                    {
                        "reference": reference,
                        "compensation": bool(compensation and compensation.due),
                    },
                )
            )
            if survey is not None:
                schedule_survey(
                    session,
                    survey,
                    case_kind="complaint",
                    case_id=c.id,
                    reference=reference,
                    contact_id=c.contact_id,
                    channel=c.channel,
                    domain=survey.complaint_domains.get(c.category),
                    closed_by=actor,
                    closed_at=c.closed_at,
                )
            c.notice_message_id, pushed = queue_notice(session, notice, actor)
            return pushed


def _case(c: Complaint, conversation_id: int | None, *, full: bool) -> ComplaintCase:
    return ComplaintCase(
        id=c.id,
        reference=c.reference,
        contact_id=c.contact_id,
        conversation_id=conversation_id,
        category=c.category,
        urgent=c.urgent,
        description=c.description if full else "",
        attachments=list(c.attachments or []) if full else [],
        status=c.status,
        channel=c.channel,
        created_at=c.created_at,
        respond_by=c.respond_by,
        response=c.response if full else None,
        resolution=c.resolution if full else None,
        compensation=c.compensation if full else None,
        closed_at=c.closed_at,
        assigned_to=c.assigned_to,
    )
