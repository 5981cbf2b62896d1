"""Hand-offs to staff and staff tasks: work for a person, which the bot opens and staff close."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from bot.db import Database
from bot.models import utcnow
from bot.storage.audit import add_contact_audit
from bot.storage.references import TASK_PREFIX, new_reference
from bot.tables import Handoff, StaffTask


class Handoffs:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def open_handoff(
        self, contact_id: int, conversation_id: int, domain: str, officer_email: str, reason: str
    ) -> int:
        return await self.db.run(
            self._open_handoff, contact_id, conversation_id, domain, officer_email, reason
        )

    def _open_handoff(
        self, contact_id: int, conversation_id: int, domain: str, officer_email: str, reason: str
    ) -> int:
        with self.db.sessions.begin() as session:
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
            add_contact_audit(session, contact_id, "handoff.opened", str(handoff.id))
            return handoff.id

    async def close_handoff(self, handoff_id: int, closed_by: str) -> None:
        await self.db.run(self._close_handoff, handoff_id, closed_by)

    def _close_handoff(self, handoff_id: int, closed_by: str) -> None:
        with self.db.sessions.begin() as session:
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id)
                .values(status="closed", closed_at=utcnow(), closed_by=closed_by)
            )

    async def create_task(self, kind: str, contact_id: int, details: dict[str, Any]) -> str:
        return await self.db.run(self._create_task, kind, contact_id, details)

    def _create_task(self, kind: str, contact_id: int, details: dict[str, Any]) -> str:
        with self.db.sessions.begin() as session:
            task = StaffTask(
                reference=new_reference(TASK_PREFIX),
                kind=kind,
                contact_id=contact_id,
                status="open",
                details=details,
            )
            session.add(task)
            session.flush()
            add_contact_audit(session, contact_id, f"task.{kind}", task.reference)
            return task.reference
