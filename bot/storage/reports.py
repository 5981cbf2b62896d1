"""The manager's reports (issue 15): the rows behind each figure, one per case where the
figure counts cases, for a period [start, end) in UTC.

Each query reads only the columns its report needs; sums, averages and shares are made from
these rows by the console (bot/console/report_figures.py), so that the page's charts and the
CSV exports are the same figures from the same rows. Days are the association's (its time
zone), bucketed here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select

from bot.db import Database
from bot.storage.casework import DECISIONS
from bot.storage.unanswered import UnansweredGroup, unanswered_questions
from bot.tables import (
    Complaint,
    ContactAddress,
    Handoff,
    Message,
    RequestStatusEvent,
    SupportRequest,
)
from bot.tables_quality import Survey

# A WhatsApp user id and a WhatsApp group are WhatsApp too, for a count per channel.
WHATSAPP_KINDS = {"whatsapp_user": "whatsapp", "whatsapp_group": "whatsapp"}


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, and the association's time zone that days are counted in."""

    start: datetime
    end: datetime
    tz: ZoneInfo


@dataclass(frozen=True)
class DayCount:
    day: date
    channel: str
    inbound: int
    outbound: int


@dataclass(frozen=True)
class RequestCase:
    reference: str
    request_type: str
    channel: str
    status: str
    submitted_at: datetime
    decision_due: datetime
    decided_at: datetime | None  # when the committee's acceptance or rejection was recorded
    decision: str | None


@dataclass(frozen=True)
class ComplaintCase:
    reference: str
    category: str
    urgent: bool
    channel: str
    status: str
    created_at: datetime
    respond_by: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class SurveyAnswer:
    case_kind: str
    reference: str | None
    channel: str
    domain: str | None
    closed_by: str | None
    rating: int
    answered_at: datetime


@dataclass(frozen=True)
class HandoffCase:
    id: int
    domain: str
    reason: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    first_reply_at: datetime | None  # the first message a staff member sent after it opened
    first_reply_by: str | None


UNANSWERED_ROWS = 1000  # the most asked; a report of more helps nobody


class Reports:
    """The reports' reads; each is one short read transaction on the database threads."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def messages_per_day(self, period: Period) -> list[DayCount]:
        return await self.db.run(self._messages_per_day, period)

    async def requests(self, period: Period) -> list[RequestCase]:
        """Support requests submitted in the period, with their decision if there is one."""
        return await self.db.run(self._requests, period)

    async def complaints(self, period: Period) -> list[ComplaintCase]:
        """Complaints filed in the period."""
        return await self.db.run(self._complaints, period)

    async def survey_answers(self, period: Period) -> list[SurveyAnswer]:
        """Surveys rated in the period (answered_at), one per case."""
        return await self.db.run(self._survey_answers, period)

    async def handoffs(self, period: Period) -> list[HandoffCase]:
        """Hand-offs opened in the period, with the first staff reply after each opened."""
        return await self.db.run(self._handoffs, period)

    async def unanswered(self, period: Period) -> list[UnansweredGroup]:
        """The questions the FAQ missed in the period, grouped, whatever staff did since (the
        one query the console's questions page uses too)."""
        return await unanswered_questions(
            self.db, period.start, period.end, pending_only=False, limit=UNANSWERED_ROWS
        )

    def _messages_per_day(self, period: Period) -> list[DayCount]:
        # Grouped by the hour in SQL (few rows however many messages), by the local day here.
        hour = _hour(self.db.engine.dialect.name)
        # The channel as the beneficiary knows it (SMS or WhatsApp, not the provider that
        # carries both): the kind of address the message came from or went to.
        query = (
            select(ContactAddress.kind, Message.direction, hour, func.count())
            .join(ContactAddress, ContactAddress.id == Message.address_id)
            .where(Message.created_at >= period.start, Message.created_at < period.end)
            .group_by(ContactAddress.kind, Message.direction, hour)
        )
        counts: Counter[tuple[date, str, str]] = Counter()
        with self.db.sessions() as session:
            for kind, direction, hour_value, count in session.execute(query):
                day = _hour_start(hour_value).astimezone(period.tz).date()
                counts[(day, WHATSAPP_KINDS.get(kind, kind), direction)] += count
        days = sorted({(day, channel) for day, channel, _ in counts})
        return [
            DayCount(day, channel, counts[(day, channel, "in")], counts[(day, channel, "out")])
            for day, channel in days
        ]

    def _requests(self, period: Period) -> list[RequestCase]:
        decided = (
            select(
                RequestStatusEvent.request_id,
                func.min(RequestStatusEvent.at).label("at"),
            )
            .where(RequestStatusEvent.status.in_(DECISIONS))
            .group_by(RequestStatusEvent.request_id)
            .subquery()
        )
        decision = (
            select(RequestStatusEvent.status)
            .where(
                RequestStatusEvent.request_id == SupportRequest.id,
                RequestStatusEvent.status.in_(DECISIONS),
            )
            .order_by(RequestStatusEvent.at, RequestStatusEvent.id)
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(
                SupportRequest.reference,
                SupportRequest.request_type,
                SupportRequest.channel,
                SupportRequest.status,
                SupportRequest.submitted_at,
                SupportRequest.decision_due,
                decided.c.at,
                decision,
            )
            .outerjoin(decided, decided.c.request_id == SupportRequest.id)
            .where(
                SupportRequest.submitted_at >= period.start,
                SupportRequest.submitted_at < period.end,
            )
            .order_by(SupportRequest.submitted_at, SupportRequest.id)
        )
        with self.db.sessions() as session:
            return [
                RequestCase(r[0], r[1], r[2], r[3], r[4], r[5], _aware(r[6]), r[7])
                for r in session.execute(query)
            ]

    def _complaints(self, period: Period) -> list[ComplaintCase]:
        query = (
            select(
                Complaint.reference,
                Complaint.category,
                Complaint.urgent,
                Complaint.channel,
                Complaint.status,
                Complaint.created_at,
                Complaint.respond_by,
                Complaint.closed_at,
            )
            .where(Complaint.created_at >= period.start, Complaint.created_at < period.end)
            .order_by(Complaint.created_at, Complaint.id)
        )
        with self.db.sessions() as session:
            return [ComplaintCase(*row) for row in session.execute(query)]

    def _survey_answers(self, period: Period) -> list[SurveyAnswer]:
        query = (
            select(
                Survey.case_kind,
                Survey.reference,
                Survey.channel,
                Survey.domain,
                Survey.closed_by,
                Survey.rating,
                Survey.answered_at,
            )
            .where(
                Survey.rating.is_not(None),
                Survey.answered_at >= period.start,
                Survey.answered_at < period.end,
            )
            .order_by(Survey.answered_at, Survey.id)
        )
        with self.db.sessions() as session:
            return [
                SurveyAnswer(r[0], r[1], r[2], r[3], r[4], int(r[5] or 0), r[6] or period.start)
                for r in session.execute(query)
            ]

    def _handoffs(self, period: Period) -> list[HandoffCase]:
        opened = (
            select(Handoff)
            .where(Handoff.opened_at >= period.start, Handoff.opened_at < period.end)
            .order_by(Handoff.opened_at, Handoff.id)
        )
        # Messages sent in the hand-off's conversation since it opened; staff's carry who sent
        # them in their (encrypted) payload, so they are told apart from the bot's here.
        sent = (
            select(Handoff.id, Message.created_at, Message.payload)
            .join(Message, Message.conversation_id == Handoff.conversation_id)
            .where(
                Handoff.opened_at >= period.start,
                Handoff.opened_at < period.end,
                Message.direction == "out",
                Message.created_at >= Handoff.opened_at,
            )
            .order_by(Handoff.id, Message.created_at, Message.id)
        )
        with self.db.sessions() as session:
            handoffs = session.scalars(opened).all()
            first: dict[int, tuple[datetime, str]] = {}
            for handoff_id, at, payload in session.execute(sent):
                by = (payload or {}).get("sent_by")
                if by and handoff_id not in first:
                    first[handoff_id] = (at, by)
            cases = []
            for h in handoffs:
                reply = first.get(h.id)
                if reply is not None and h.closed_at is not None and reply[0] > h.closed_at:
                    reply = None  # after it was closed: not an answer to this hand-off
                cases.append(
                    HandoffCase(
                        h.id,
                        h.domain,
                        h.reason,
                        h.status,
                        h.opened_at,
                        h.closed_at,
                        reply[0] if reply else None,
                        reply[1] if reply else None,
                    )
                )
            return cases


def _hour(dialect: str) -> ColumnElement[Any]:
    """The UTC hour a message was stored in (SQLite keeps UTC text, PostgreSQL timestamptz)."""
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H", Message.created_at)
    # Truncated in UTC, whatever the session's time zone (a +05:30 zone would cut half hours).
    return func.date_trunc("hour", func.timezone("UTC", Message.created_at))


def _hour_start(value: datetime | str) -> datetime:
    """The hour as an aware UTC datetime, from "2026-12-01 09" (SQLite) or a datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value + ":00:00")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate's datetime: SQLite gives it as naive UTC text."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
