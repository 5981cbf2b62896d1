"""The quality officer's follow-ups of low ratings (service recovery), as the console's inbox
lists and closes them: each is a staff task of kind "survey_follow_up" linked from its
survey, which holds the rating and the (encrypted) comment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.db import Database
from bot.models import utcnow
from bot.storage.casework import NotAllowed, audit_entry
from bot.storage.surveys import FOLLOW_UP_KIND
from bot.tables import Conversation, StaffTask
from bot.tables_quality import Survey

LIST_LIMIT = 500


@dataclass(frozen=True)
class FollowUp:
    task_id: int
    reference: str
    contact_id: int
    conversation_id: int | None
    case_kind: str
    case_reference: str | None
    domain: str | None
    rating: int | None
    comment: str | None
    closed_by: str | None  # who closed the case that was rated
    opened_at: datetime


class SurveyFollowUps:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_follow_ups(self) -> list[FollowUp]:
        """Open follow-ups, oldest first, with the rating and comment that opened them."""
        return await self.db.run(self._open)

    def _open(self) -> list[FollowUp]:
        with self.db.sessions() as session:
            rows = session.execute(
                select(StaffTask, Survey, Conversation.id)
                .join(Survey, Survey.follow_up_task_id == StaffTask.id)
                .outerjoin(Conversation, Conversation.contact_id == StaffTask.contact_id)
                .where(StaffTask.kind == FOLLOW_UP_KIND, StaffTask.status == "open")
                .order_by(StaffTask.created_at, StaffTask.id)
                .limit(LIST_LIMIT)
            ).all()
            return [
                FollowUp(
                    task_id=task.id,
                    reference=task.reference,
                    contact_id=task.contact_id,
                    conversation_id=conversation_id,
                    case_kind=survey.case_kind,
                    case_reference=survey.reference,
                    domain=survey.domain,
                    rating=survey.rating,
                    comment=survey.comment,
                    closed_by=survey.closed_by,
                    opened_at=task.created_at,
                )
                for task, survey, conversation_id in rows
            ]

    async def close(self, task_id: int, actor: str) -> None:
        """Close the follow-up (the beneficiary was contacted); NotAllowed if it is not an
        open follow-up."""
        await self.db.run(self._close, task_id, actor)

    def _close(self, task_id: int, actor: str) -> None:
        with self.db.sessions.begin() as session:
            task = session.get(StaffTask, task_id, with_for_update=True)
            if task is None or task.kind != FOLLOW_UP_KIND or task.status != "open":
                raise NotAllowed("no open follow-up")
            task.status = "closed"
            now = utcnow()
            task.details = {
                **(task.details or {}),
                "closed_by": actor[:64],
                "closed_at": now.isoformat(),
            }
            session.add(audit_entry(actor, "survey_follow_up.closed", "staff_task", task.id, {}))
