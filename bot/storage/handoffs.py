"""Hand-offs to staff and staff tasks: work for a person, which a turn opens (in its save
step) and staff close."""

from __future__ import annotations

from sqlalchemy import update

from bot.db import Database
from bot.effects import CreateTask, OpenHandoff
from bot.models import utcnow
from bot.storage.turn_write import TurnWrite
from bot.tables import Handoff


def open_handoff(write: TurnWrite, effect: OpenHandoff) -> None:
    """Open the hand-off; the state saved with the turn names it, so the bot stays quiet."""
    handoff_id = write.insert(
        "handoffs",
        {
            "contact_id": write.contact_id,
            "conversation_id": write.conversation_id,
            "domain": effect.domain,
            "officer_email": effect.officer_email,
            "reason": effect.reason,
            "status": "open",
            "opened_at": write.now,
        },
    )
    write.state["handoff"] = handoff_id
    write.audit("handoff.opened", {"reference": str(handoff_id)})


def create_task(write: TurnWrite, effect: CreateTask) -> None:
    write.insert(
        "staff_tasks",
        {
            "reference": effect.reference,
            "kind": effect.kind,
            "contact_id": write.contact_id,
            "status": "open",
            "details": effect.details,
            "created_at": write.now,
        },
    )
    write.audit(f"task.{effect.kind}", {"reference": effect.reference})


class Handoffs:
    """What staff do to hand-offs (the console)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def close_handoff(self, handoff_id: int, closed_by: str) -> None:
        await self.db.run(self._close_handoff, handoff_id, closed_by)

    def _close_handoff(self, handoff_id: int, closed_by: str) -> None:
        with self.db.sessions.begin() as session:
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id)
                .values(status="closed", closed_at=utcnow(), closed_by=closed_by)
            )
