"""What staff do to cases in the console: claim, assign and close hand-offs, write private
notes, queue a message to the beneficiary (stored as the router stores a reply, then pushed to
the outbox by the caller), and move a support request through its statuses with a note.

Each call is one transaction, and each records who did it in the audit log, so the message
to the beneficiary is stored together with the change it tells them of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import DeliveryStatus, OutboundMessage, utcnow
from bot.storage.inbound_rows import InboundRecord, outbound_values
from bot.storage.sla import paused_since
from bot.storage.surveys import SurveySchedule, handoff_channel, schedule_survey
from bot.tables import (
    AuditEntry,
    Base,
    Complaint,
    Handoff,
    RequestStatusEvent,
    StaffNote,
    SupportRequest,
)
from bot.work_calendar import WorkCalendar

_messages = Base.metadata.tables["messages"]

# The research committee's path: new → under study → more information needed → accepted /
# rejected → closed; more information can be asked for again once the papers come.
REQUEST_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "submitted": ("under_review",),
    "under_review": ("needs_info", "accepted", "rejected"),
    "needs_info": ("under_review",),
    "accepted": ("closed",),
    "rejected": ("closed",),
    "closed": (),
}
DECISIONS = ("accepted", "rejected")
# Cases staff can be assigned to, found by reference, while they are still worked: the
# model, the statuses it is worked in, and its name in the audit log.
ASSIGNABLE: dict[str, tuple[type[SupportRequest] | type[Complaint], tuple[str, ...], str]] = {
    "request": (
        SupportRequest,
        tuple(s for s in REQUEST_TRANSITIONS if s != "closed"),
        "support_request",
    ),
    "complaint": (Complaint, ("open",), "complaint"),
}


@dataclass(frozen=True)
class Outgoing:
    """A message for the beneficiary, stored with the change: where, what, by whom."""

    conversation_id: int
    address_id: int
    channel: str
    message: OutboundMessage
    # Why it cannot go (NO_TEMPLATE): it is then kept as not sent, for staff to see.
    not_sent: str | None = None


# WhatsApp's window has closed and the profile has no approved template for the notice.
NO_TEMPLATE = "no_template"


class NotAllowed(ValueError):
    """The change does not follow from the record's present state (e.g. a status skipped)."""


class Casework:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def assign_handoff(self, handoff_id: int, staff_email: str | None, actor: str) -> bool:
        """Give an open hand-off to `staff_email` (None: back to nobody); False if it is not
        open any more."""
        return await self.db.run(self._assign, handoff_id, staff_email, actor)

    def _assign(self, handoff_id: int, staff_email: str | None, actor: str) -> bool:
        with self.db.sessions.begin() as session:
            done = session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == "open")
                .values(assigned_to=staff_email)
                .returning(Handoff.id)
            ).first()
            if done is not None:
                details = {"assigned_to": staff_email}
                _audit(session, actor, "handoff.assigned", "handoff", handoff_id, details)
            return done is not None

    async def assign_case(
        self, kind: str, reference: str, staff_email: str | None, actor: str
    ) -> bool:
        """Give a support request or complaint (`kind` of ASSIGNABLE) to `staff_email`
        (None: back to nobody); False if there is no such case still being worked."""
        return await self.db.run(self._assign_case, kind, reference, staff_email, actor)

    def _assign_case(self, kind: str, reference: str, staff_email: str | None, actor: str) -> bool:
        model, statuses, name = ASSIGNABLE[kind]
        with self.db.sessions.begin() as session:
            done = session.execute(
                update(model)
                .where(model.reference == reference, model.status.in_(statuses))
                .values(assigned_to=staff_email)
                .returning(model.id)
            ).first()
            if done is not None:
                details = {"reference": reference, "assigned_to": staff_email}
                _audit(session, actor, f"{name}.assigned", name, done.id, details)
            return done is not None

    async def close_handoff(
        self,
        handoff_id: int,
        actor: str,
        notice: Outgoing | None,
        survey: SurveySchedule | None = None,
    ) -> int | None:
        """Close an open hand-off, so the bot answers the conversation again, with the
        message that tells the beneficiary so (and, with `survey`, its satisfaction survey
        scheduled); returns that message's id (None if none was given). Raises NotAllowed
        when the hand-off is not open."""
        return await self.db.run(self._close, handoff_id, actor, notice, survey)

    def _close(
        self,
        handoff_id: int,
        actor: str,
        notice: Outgoing | None,
        survey: SurveySchedule | None,
    ) -> int | None:
        with self.db.sessions.begin() as session:
            now = utcnow()
            done = session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == "open")
                .values(status="closed", closed_at=now, closed_by=actor[:64])
                .returning(Handoff.id, Handoff.contact_id, Handoff.conversation_id, Handoff.domain)
            ).first()
            if done is None:
                raise NotAllowed("the hand-off is not open")
            _audit(session, actor, "handoff.closed", "handoff", handoff_id, {})
            if survey is not None:
                schedule_survey(
                    session,
                    survey,
                    case_kind="handoff",
                    case_id=handoff_id,
                    reference=f"H-{handoff_id}",
                    contact_id=done.contact_id,
                    channel=handoff_channel(session, done.conversation_id),
                    domain=done.domain,
                    closed_by=actor,
                    closed_at=now,
                )
            return queue_notice(session, notice, actor)[1]

    async def add_note(self, conversation_id: int, author: str, body: str) -> None:
        await self.db.run(self._add_note, conversation_id, author, body)

    def _add_note(self, conversation_id: int, author: str, body: str) -> None:
        with self.db.sessions.begin() as session:
            session.add(
                StaffNote(
                    conversation_id=conversation_id, author=author, body=body, created_at=utcnow()
                )
            )
            _audit(session, author, "conversation.note_added", "conversation", conversation_id, {})

    async def send(self, outgoing: Outgoing, actor: str) -> int:
        """Store a staff member's message to the beneficiary, queued as the router queues a
        reply; the caller pushes the returned id to the outbox."""
        return await self.db.run(self._send, outgoing, actor)

    def _send(self, outgoing: Outgoing, actor: str) -> int:
        with self.db.sessions.begin() as session:
            message_id = queue_message(session, outgoing, actor)
            _audit(
                session,
                actor,
                "conversation.replied",
                "conversation",
                outgoing.conversation_id,
                {"template": outgoing.message.template.name if outgoing.message.template else None},
            )
            return message_id

    async def set_request_status(
        self,
        reference: str,
        status: str,
        actor: str,
        note: str | None,
        decided_on: date | None,
        notice: Outgoing | None,
        calendar: WorkCalendar | None = None,
        survey: SurveySchedule | None = None,
    ) -> int | None:
        """Move the request on (only along REQUEST_TRANSITIONS, else NotAllowed), keep the
        change in its history and store the message that tells the beneficiary; returns
        that message's id. Leaving "needs_info", its decision deadline moves by the working
        time (on `calendar`) it waited on the beneficiary; closing it schedules its survey,
        given `survey`."""
        return await self.db.run(
            self._set_request_status,
            reference,
            status,
            actor,
            note,
            decided_on,
            notice,
            calendar,
            survey,
        )

    def _set_request_status(
        self,
        reference: str,
        status: str,
        actor: str,
        note: str | None,
        decided_on: date | None,
        notice: Outgoing | None,
        calendar: WorkCalendar | None = None,
        survey: SurveySchedule | None = None,
    ) -> int | None:
        with self.db.sessions.begin() as session:
            request = session.scalar(
                select(SupportRequest)
                .where(SupportRequest.reference == reference)
                .with_for_update()
            )
            if request is None:
                raise KeyError(reference)
            if status not in REQUEST_TRANSITIONS.get(request.status, ()):
                raise NotAllowed(f"{request.status} cannot become {status}")
            if request.status == "needs_info" and calendar is not None:
                paused = paused_since(session, request.id)
                if paused is not None:  # the clock ran again: the deadline moves on
                    request.decision_due = calendar.resumed_due(
                        request.decision_due, paused, utcnow()
                    )
            request.status = status
            session.add(
                RequestStatusEvent(
                    request_id=request.id,
                    status=status,
                    at=utcnow(),
                    actor=actor[:64],
                    note=note or None,
                    decided_on=decided_on if status in DECISIONS else None,
                )
            )
            _audit(
                session,
                actor,
                "support_request.status_changed",
                "support_request",
                request.id,
                {"reference": reference, "status": status},
            )
            if status == "closed" and survey is not None:
                schedule_survey(
                    session,
                    survey,
                    case_kind="request",
                    case_id=request.id,
                    reference=reference,
                    contact_id=request.contact_id,
                    channel=request.channel,
                    domain=survey.request_domains.get(request.request_type),
                    closed_by=actor,
                    closed_at=utcnow(),
                )
            return queue_notice(session, notice, actor)[1]


def queue_notice(
    session: Session, notice: Outgoing | None, actor: str
) -> tuple[int | None, int | None]:
    """Store the notice of a change: (its id, the id to hand to the outbox, None for a
    notice kept as not sent)."""
    if notice is None:
        return None, None
    message_id = queue_message(session, notice, actor)
    return message_id, None if notice.not_sent else message_id


def queue_message(session: Session, outgoing: Outgoing, actor: str) -> int:
    now = utcnow()
    record = InboundRecord(0, 0, outgoing.address_id, outgoing.conversation_id, None, False)
    values = outbound_values(record, outgoing.channel, now, outgoing.message)
    values["payload"] = {**values["payload"], "sent_by": actor}
    if outgoing.not_sent:
        values.update(status=DeliveryStatus.FAILED.value, error_code=outgoing.not_sent)
    message_id: int = session.execute(
        insert(_messages).returning(_messages.c.id), values
    ).scalar_one()
    return message_id


def _audit(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: int,
    details: dict[str, Any],
) -> None:
    session.add(audit_entry(actor, action, subject_type, subject_id, details))


def audit_entry(
    actor: str, action: str, subject_type: str, subject_id: int, details: dict[str, Any]
) -> AuditEntry:
    """An audit row written in the same transaction as the change it records."""
    return AuditEntry(
        at=utcnow(),
        actor=actor[:64],
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details or None,
    )
