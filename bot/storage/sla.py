"""The SLA watch's storage: the open cases with their deadlines, the once-only alerts about
them (a UNIQUE row inserted before anyone is told), the late notice to the beneficiary
stored with its alert, and the new work staff should hear of.

The worker (worker/sla.py) decides, from the profile, what is due; this module only reads
and writes, each write one transaction, so an alert and what it sends are stored together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import OutboundMessage, utcnow
from bot.storage.inbound_rows import InboundRecord, outbound_values
from bot.storage.requests import OPEN_REQUEST_STATUSES
from bot.tables import (
    Base,
    Complaint,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    RequestStatusEvent,
    StaffTask,
    SupportRequest,
)
from bot.tables_sla import SlaAlert, StaffNotification

WHATSAPP_KINDS = ("whatsapp", "whatsapp_user")
_messages = Base.metadata.tables["messages"]


@dataclass(frozen=True)
class OpenCase:
    """A case whose deadline may be running: what the watch needs to judge it."""

    case_kind: str  # request | complaint | handoff
    case_id: int
    reference: str
    what: str  # the request type, complaint category, or hand-off domain
    status: str
    opened_at: datetime
    due_at: datetime | None  # the stored deadline (requests, complaints' first response)
    assignee: str | None
    contact_id: int
    responded: bool  # staff have written to the beneficiary since it opened
    urgent: bool = False


@dataclass(frozen=True)
class Alert:
    case_kind: str
    case_id: int
    deadline: str
    kind: str
    due_at: datetime
    sent_to: str | None = None
    expected_at: datetime | None = None
    created_at: datetime | None = None  # the watch's clock (None: now)


@dataclass(frozen=True)
class NewNotification:
    item_key: str
    recipient: str
    kind: str
    text: str
    link: str
    created_at: datetime  # the watch's clock: the digest's minute counts from it


@dataclass(frozen=True)
class NewWork:
    """Something staff should hear of: a hand-off, an urgent complaint, a follow-up task."""

    kind: str  # handoff | urgent_complaint | survey_follow_up
    item_id: int
    reference: str
    what: str  # domain (hand-off), category (complaint), domain or "" (task)
    conversation_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class LateNoticeRoute:
    """Where the beneficiary of a request is told it is late, and in which language."""

    conversation_id: int
    address_id: int
    channel: str
    language: str | None
    whatsapp: bool
    last_inbound: datetime | None


class SlaStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads ----------------------------------------------------------------------------------
    async def open_cases(self) -> list[OpenCase]:
        return await self.db.run(self._open_cases)

    def _open_cases(self) -> list[OpenCase]:
        with self.db.sessions() as session:
            cases = [
                OpenCase("request", r.id, r.reference, r.request_type, r.status,
                         r.submitted_at, r.decision_due, None, r.contact_id, False)
                for r in session.scalars(
                    select(SupportRequest).where(SupportRequest.status.in_(OPEN_REQUEST_STATUSES))
                )
            ]  # fmt: skip
            for c in session.scalars(select(Complaint).where(Complaint.status == "open")):
                replied = _staff_replied(session, c.contact_id, None, c.created_at)
                cases.append(
                    OpenCase("complaint", c.id, c.reference, c.category, c.status, c.created_at,
                             c.respond_by, None, c.contact_id, replied, c.urgent)
                )  # fmt: skip
            for h in session.scalars(select(Handoff).where(Handoff.status == "open")):
                replied = _staff_replied(session, h.contact_id, h.conversation_id, h.opened_at)
                cases.append(
                    OpenCase("handoff", h.id, str(h.conversation_id), h.domain, h.status,
                             h.opened_at, None, h.assigned_to, h.contact_id, replied)
                )  # fmt: skip
            return cases

    async def alerts(self, case_kind: str, case_ids: Sequence[int]) -> dict[int, set[str]]:
        """The kinds of alert sent about each case ("remind", "escalate", "late_notice")."""
        return await self.db.run(self._alerts, case_kind, list(case_ids))

    def _alerts(self, case_kind: str, case_ids: list[int]) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        if not case_ids:
            return found
        with self.db.sessions() as session:
            rows = session.execute(
                select(SlaAlert.case_id, SlaAlert.kind).where(
                    SlaAlert.case_kind == case_kind, SlaAlert.case_id.in_(case_ids)
                )
            )
            for case_id, kind in rows:
                found.setdefault(case_id, set()).add(kind)
        return found

    async def paused_since(self, request_id: int) -> datetime | None:
        """When a request last went to "needs_info" (its clock stopped)."""
        return await self.db.run(self._paused_since, request_id)

    def _paused_since(self, request_id: int) -> datetime | None:
        with self.db.sessions() as session:
            return paused_since(session, request_id)

    async def new_work(self, since: datetime) -> list[NewWork]:
        return await self.db.run(self._new_work, since)

    def _new_work(self, since: datetime) -> list[NewWork]:
        with self.db.sessions() as session:
            work = [
                NewWork("handoff", h.id, str(h.id), h.domain, h.conversation_id, h.opened_at)
                for h in session.scalars(select(Handoff).where(Handoff.opened_at >= since))
            ]
            work += [
                NewWork("urgent_complaint", c.id, c.reference, c.category, None, c.created_at)
                for c in session.scalars(
                    select(Complaint).where(
                        Complaint.urgent.is_(True), Complaint.created_at >= since
                    )
                )
            ]
            for task in session.scalars(
                select(StaffTask).where(
                    StaffTask.kind == "survey_follow_up", StaffTask.created_at >= since
                )
            ):
                details = task.details if isinstance(task.details, dict) else {}
                domain = details.get("domain")
                work.append(
                    NewWork("survey_follow_up", task.id, task.reference,
                            domain if isinstance(domain, str) else "", None, task.created_at)
                )  # fmt: skip
            return work

    async def late_notice_route(self, request_id: int) -> LateNoticeRoute | None:
        return await self.db.run(self._route, request_id)

    def _route(self, request_id: int) -> LateNoticeRoute | None:
        with self.db.sessions() as session:
            request = session.get(SupportRequest, request_id)
            if request is None:
                return None
            conversation = session.scalar(
                select(Conversation).where(Conversation.contact_id == request.contact_id)
            )
            if conversation is None:
                return None
            query = select(Message).where(
                Message.conversation_id == conversation.id, Message.direction == "in"
            )
            last = session.scalar(
                query.where(Message.channel == request.channel).order_by(Message.id.desc())
            ) or session.scalar(query.order_by(Message.id.desc()))
            if last is None or last.address_id is None:
                return None
            address = session.get(ContactAddress, last.address_id)
            contact = session.get(Contact, request.contact_id)
            return LateNoticeRoute(
                conversation.id,
                last.address_id,
                last.channel,
                contact.language if contact is not None else None,
                address is not None and address.kind in WHATSAPP_KINDS,
                last.created_at,
            )

    # -- writes ---------------------------------------------------------------------------------
    async def record_alert(self, alert: Alert, notifications: Sequence[NewNotification]) -> bool:
        """Insert the alert and what it tells staff, in one transaction; False (and nothing
        stored) when this alert exists already: another worker, or an earlier run, sent it."""
        return await self.db.run(self._record_alert, alert, list(notifications))

    def _record_alert(self, alert: Alert, notifications: list[NewNotification]) -> bool:
        try:
            with self.db.sessions.begin() as session:
                session.add(_alert_row(alert))
                session.flush()
                for notification in notifications:
                    _add_notification(session, notification)
            return True
        except IntegrityError:
            return False

    async def record_late_notice(
        self, alert: Alert, route: LateNoticeRoute, message: OutboundMessage
    ) -> int | None:
        """Store the late notice to the beneficiary with its alert; its message id, or None
        when it was sent already."""
        return await self.db.run(self._late_notice, alert, route, message)

    def _late_notice(
        self, alert: Alert, route: LateNoticeRoute, message: OutboundMessage
    ) -> int | None:
        try:
            with self.db.sessions.begin() as session:
                row = _alert_row(alert)
                session.add(row)
                session.flush()
                record = InboundRecord(0, 0, route.address_id, route.conversation_id, None, False)
                message_id: int = session.execute(
                    insert(_messages).returning(_messages.c.id),
                    outbound_values(record, route.channel, utcnow(), message),
                ).scalar_one()  # queued as the router queues a reply
                row.message_id = message_id
                return message_id
        except IntegrityError:
            return None

    async def add_notifications(self, notifications: Sequence[NewNotification]) -> int:
        """Store notifications not stored before (UNIQUE per item and recipient); how many."""
        return await self.db.run(self._add_many, list(notifications))

    def _add_many(self, notifications: list[NewNotification]) -> int:
        added = 0
        with self.db.sessions.begin() as session:
            stored = {  # one read for the batch: most were announced on earlier rounds
                (key, recipient)
                for key, recipient in session.execute(
                    select(StaffNotification.item_key, StaffNotification.recipient).where(
                        StaffNotification.item_key.in_({n.item_key for n in notifications})
                    )
                )
            }
            for notification in notifications:
                if (notification.item_key, notification.recipient) not in stored:
                    added += _add_notification(session, notification)
        return added


def paused_since(session: Session, request_id: int) -> datetime | None:
    """When the request last went to "needs_info", from its history."""
    return session.scalar(
        select(RequestStatusEvent.at)
        .where(
            RequestStatusEvent.request_id == request_id, RequestStatusEvent.status == "needs_info"
        )
        .order_by(RequestStatusEvent.id.desc())
        .limit(1)
    )


def _alert_row(alert: Alert) -> SlaAlert:
    return SlaAlert(
        case_kind=alert.case_kind,
        case_id=alert.case_id,
        deadline=alert.deadline,
        kind=alert.kind,
        due_at=alert.due_at,
        sent_to=alert.sent_to,
        expected_at=alert.expected_at,
        created_at=alert.created_at or utcnow(),
    )


def _add_notification(session: Session, n: NewNotification) -> int:
    """Insert one notification unless its (item, recipient) is stored already; 1 or 0."""
    exists = session.scalar(
        select(StaffNotification.id).where(
            StaffNotification.item_key == n.item_key, StaffNotification.recipient == n.recipient
        )
    )
    if exists is not None:
        return 0
    try:
        with session.begin_nested():
            session.add(
                StaffNotification(
                    item_key=n.item_key, recipient=n.recipient, kind=n.kind, text=n.text[:2000],
                    link=n.link[:500], status="pending", attempts=0, created_at=n.created_at,
                )
            )  # fmt: skip
        return 1
    except IntegrityError:  # another worker stored it a moment ago
        return 0


def _staff_replied(
    session: Session, contact_id: int, conversation_id: int | None, since: datetime
) -> bool:
    """Whether staff wrote to the beneficiary after `since` (their messages carry sent_by)."""
    if conversation_id is None:
        conversation_id = session.scalar(
            select(Conversation.id).where(Conversation.contact_id == contact_id)
        )
        if conversation_id is None:
            return False
    payloads = session.scalars(
        select(Message.payload).where(
            Message.conversation_id == conversation_id,
            Message.direction == "out",
            Message.created_at > since,
        )
    )
    return any(isinstance(p, dict) and p.get("sent_by") for p in payloads)
