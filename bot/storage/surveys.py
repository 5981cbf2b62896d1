"""Satisfaction surveys (issue 15): scheduled when staff close a case, sent by the worker,
answered through the router.

`schedule_survey` runs inside the transaction that closes a request, a complaint or a
hand-off, so a closed case has its survey or the close did not happen; the UNIQUE
(case_kind, case_id) keeps it to one per case. The worker (worker/surveys.py) reads what a
due survey needs (`prospect`), decides with the survey journey (handlers/survey.py) and
records what it did: sent with the conversation's new state, or not sent with the reason.
The answers are effects of the beneficiary's turns (`rate`, `comment`), saved with the
turn; a low rating opens the quality officer's follow-up, a staff task linked to the survey.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from bot.db import Database
from bot.effects import CommentSurvey, RateSurvey
from bot.models import OutboundMessage, utcnow
from bot.profile import Profile
from bot.storage.casework_reads import ReplyRoute, conversation_reply_route
from bot.storage.inbound_rows import InboundRecord, outbound_values
from bot.storage.turn_write import TurnWrite
from bot.tables import Base, Contact, ContactAddress, Conversation, Handoff, Message
from bot.tables_quality import Survey

FOLLOW_UP_KIND = "survey_follow_up"
DUE_BATCH = 100


@dataclass(frozen=True)
class SurveySchedule:
    """When a closed case's survey is asked and until when, and the domain a case belongs
    to (a hand-off names its own; requests and complaints through their type)."""

    delay: timedelta
    lifetime: timedelta
    request_domains: Mapping[str, str | None]
    complaint_domains: Mapping[str, str | None]

    @classmethod
    def from_profile(cls, profile: Profile) -> SurveySchedule:
        return cls(
            delay=timedelta(minutes=profile.survey.delay_minutes),
            lifetime=timedelta(hours=profile.survey.expires_hours),
            request_domains={t.id: t.domain for t in profile.request_types},
            complaint_domains={c.id: c.domain for c in profile.complaint_categories},
        )


def schedule_survey(
    session: Session,
    schedule: SurveySchedule,
    *,
    case_kind: str,
    case_id: int,
    reference: str | None,
    contact_id: int,
    channel: str,
    domain: str | None,
    closed_by: str,
    closed_at: datetime,
) -> None:
    """The closed case's survey, in the caller's transaction (once per case)."""
    exists = session.scalar(
        select(Survey.id).where(Survey.case_kind == case_kind, Survey.case_id == case_id)
    )
    if exists is not None:
        return
    session.add(
        Survey(
            case_kind=case_kind,
            case_id=case_id,
            reference=reference,
            contact_id=contact_id,
            channel=channel[:16],
            domain=domain,
            closed_by=closed_by[:254],
            closed_at=closed_at,
            status="scheduled",
            scheduled_for=closed_at + schedule.delay,
            expires_at=closed_at + schedule.lifetime,
        )
    )


def handoff_channel(session: Session, conversation_id: int) -> str:
    """The channel of a hand-off: where the beneficiary last wrote."""
    channel = session.scalar(
        select(Message.channel)
        .where(Message.conversation_id == conversation_id, Message.direction == "in")
        .order_by(Message.id.desc())
        .limit(1)
    )
    return channel or "unknown"


# -- the answers, saved with the beneficiary's turn (bot/storage/turn_effects.py) ------------
_surveys = Base.metadata.tables["surveys"]
_RATE = (
    update(_surveys)
    .where(
        _surveys.c.id == bindparam("survey_id"),
        _surveys.c.contact_id == bindparam("contact_id"),
        _surveys.c.status == "sent",
    )
    .values(rating=bindparam("rating"), answered_at=bindparam("now"), status="answered")
    .returning(_surveys.c.case_kind, _surveys.c.reference, _surveys.c.domain)
)
_LINK_FOLLOW_UP = (
    update(_surveys)
    .where(_surveys.c.id == bindparam("survey_id"))
    .values(follow_up_task_id=bindparam("task_id"))
)
_COMMENT = (
    update(_surveys)
    .where(
        _surveys.c.id == bindparam("survey_id"),
        _surveys.c.contact_id == bindparam("contact_id"),
        _surveys.c.status == "answered",
    )
    .values(comment=bindparam("comment"), status="commented")
)


def rate(write: TurnWrite, effect: RateSurvey) -> None:
    """Keep the rating (only of a survey sent to this contact and not answered yet); a low
    one opens the follow-up task, linked to the survey."""
    row = write.first(
        _RATE,
        {
            "survey_id": effect.survey_id,
            "contact_id": write.contact_id,
            "rating": effect.rating,
            "now": write.now,
        },
    )
    if row is None:
        return  # expired meanwhile, or answered already
    write.audit("survey.answered", {"survey": effect.survey_id, "rating": effect.rating})
    if effect.follow_up_reference is None:
        return
    case_kind, reference, domain = row
    task_id = write.insert(
        "staff_tasks",
        {
            "reference": effect.follow_up_reference,
            "kind": FOLLOW_UP_KIND,
            "contact_id": write.contact_id,
            "status": "open",
            "details": {
                "survey_id": effect.survey_id,
                "case_kind": case_kind,
                "case_reference": reference,
                "domain": domain,
            },
            "created_at": write.now,
        },
    )
    write.execute(_LINK_FOLLOW_UP, {"survey_id": effect.survey_id, "task_id": task_id})
    write.audit(f"task.{FOLLOW_UP_KIND}", {"reference": effect.follow_up_reference})


def comment(write: TurnWrite, effect: CommentSurvey) -> None:
    write.execute(
        _COMMENT,
        {"survey_id": effect.survey_id, "contact_id": write.contact_id, "comment": effect.comment},
    )


# -- the worker's side ------------------------------------------------------------------------
_messages = Base.metadata.tables["messages"]


def _waiting(
    session: Session, survey_id: int, *, lock: bool = False
) -> tuple[Survey, Conversation] | None:
    """The survey, if it still waits to be asked, and its beneficiary's conversation."""
    survey = session.get(Survey, survey_id, with_for_update=lock)
    if survey is None or survey.status != "scheduled":
        return None
    conversation = session.scalar(
        select(Conversation).where(Conversation.contact_id == survey.contact_id)
    )
    return None if conversation is None else (survey, conversation)


@dataclass(frozen=True)
class DueSurvey:
    id: int
    contact_id: int


@dataclass(frozen=True)
class SurveyProspect:
    """What deciding to ask a due survey takes: the conversation as it is now, where the
    beneficiary can be reached and in which language."""

    id: int
    reference: str | None
    expires_at: datetime
    conversation_id: int
    state: dict[str, Any] | None
    language: str | None
    route: ReplyRoute | None
    stopped: bool
    handoff_open: bool


class Surveys:
    """Each call is one transaction on a database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def expire(self, now: datetime) -> int:
        """Surveys past their limit, asked or not, are not answered any more."""
        return await self.db.run(self._expire, now)

    def _expire(self, now: datetime) -> int:
        with self.db.sessions.begin() as session:
            result = session.execute(
                update(Survey)
                .where(Survey.status.in_(("scheduled", "sent")), Survey.expires_at <= now)
                .values(status="expired")
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def due(
        self, now: datetime, after_id: int = 0, limit: int = DUE_BATCH
    ) -> list[DueSurvey]:
        """Scheduled surveys whose time has come, in id order from `after_id` on (so the
        ones that keep waiting never hide those behind them)."""
        return await self.db.run(self._due, now, after_id, limit)

    def _due(self, now: datetime, after_id: int, limit: int) -> list[DueSurvey]:
        with self.db.sessions() as session:
            rows = session.execute(
                select(Survey.id, Survey.contact_id)
                .where(
                    Survey.status == "scheduled",
                    Survey.scheduled_for <= now,
                    Survey.expires_at > now,
                    Survey.id > after_id,
                )
                .order_by(Survey.id)
                .limit(limit)
            ).all()
            return [DueSurvey(row.id, row.contact_id) for row in rows]

    async def prospect(self, survey_id: int) -> SurveyProspect | None:
        """None when the survey is no longer waiting (sent by another worker, expired)."""
        return await self.db.run(self._prospect, survey_id)

    def _prospect(self, survey_id: int) -> SurveyProspect | None:
        with self.db.sessions() as session:
            found = _waiting(session, survey_id)
            if found is None:
                return None
            survey, conversation = found
            state = conversation.state or {}
            route = conversation_reply_route(session, conversation)
            stopped = route is not None and (
                session.scalar(
                    select(ContactAddress.stopped_at).where(ContactAddress.id == route.address_id)
                )
                is not None
            )
            handoff = state.get("handoff")
            handoff_open = isinstance(handoff, int) and (
                session.scalar(select(Handoff.status).where(Handoff.id == handoff)) == "open"
            )
            return SurveyProspect(
                id=survey.id,
                reference=survey.reference,
                expires_at=survey.expires_at,
                conversation_id=conversation.id,
                state=conversation.state,
                language=session.scalar(
                    select(Contact.language).where(Contact.id == survey.contact_id)
                ),
                route=route,
                stopped=stopped,
                handoff_open=handoff_open,
            )

    async def mark_sent(
        self,
        survey_id: int,
        route: ReplyRoute,
        message: OutboundMessage,
        state: dict[str, Any],
        now: datetime,
    ) -> int | None:
        """Store the question as a queued message and the state that waits for the answer;
        returns the message's id (None if the survey was no longer waiting). The caller
        holds the contact's lock, so no turn saves a state over this one meanwhile."""
        return await self.db.run(self._mark_sent, survey_id, route, message, state, now)

    def _mark_sent(
        self,
        survey_id: int,
        route: ReplyRoute,
        message: OutboundMessage,
        state: dict[str, Any],
        now: datetime,
    ) -> int | None:
        with self.db.sessions.begin() as session:
            found = _waiting(session, survey_id, lock=True)
            if found is None:
                return None
            survey, conversation = found
            stored = utcnow()
            record = InboundRecord(0, 0, route.address_id, conversation.id, None, False)
            message_id: int = session.execute(
                insert(_messages).returning(_messages.c.id),
                outbound_values(record, route.channel, stored, message),
            ).scalar_one()
            # A new `updated_at` is a new version: the next turn reads this state.
            conversation.state, conversation.updated_at = state, stored
            survey.status, survey.sent_at, survey.message_id = "sent", now, message_id
            return message_id

    async def mark_not_sent(self, survey_id: int, reason: str) -> None:
        await self.db.run(self._mark_not_sent, survey_id, reason)

    def _mark_not_sent(self, survey_id: int, reason: str) -> None:
        with self.db.sessions.begin() as session:
            session.execute(
                update(Survey)
                .where(Survey.id == survey_id, Survey.status == "scheduled")
                .values(status="not_sent", not_sent_reason=reason[:64])
            )
