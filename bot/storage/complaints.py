"""Complaints and suggestions, each with its category, urgency and response deadline, filed
by the turn's save step, and looked up by reference for the status journey."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from bot.db import Database
from bot.effects import FileComplaint
from bot.storage.turn_write import TurnWrite
from bot.tables import Complaint


def file_complaint(write: TurnWrite, effect: FileComplaint) -> None:
    write.insert(
        "complaints",
        {
            "reference": effect.reference,
            "contact_id": write.contact_id,
            "category": effect.category,
            "urgent": effect.urgent,
            "description": effect.description,
            "attachments": effect.attachments or None,
            "status": "open",
            "channel": write.channel,
            "created_at": write.now,
            "respond_by": effect.respond_by,
        },
    )
    write.audit("complaint.filed", {"reference": effect.reference})


@dataclass(frozen=True)
class ComplaintView:
    """A complaint as its author may see it in the status journey (never its text)."""

    reference: str
    contact_id: int
    category: str
    urgent: bool
    status: str
    created_at: datetime
    respond_by: datetime


class Complaints:
    """Complaint lookups for journeys; each call is one transaction on the database threads."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def complaint(self, reference: str) -> ComplaintView | None:
        """A complaint by its stored reference ("C-482139075"); None if there is none."""
        return await self.db.run(self._complaint, reference)

    def _complaint(self, reference: str) -> ComplaintView | None:
        with self.db.sessions() as session:
            row = session.execute(_BY_REFERENCE, {"reference": reference}).first()
            return None if row is None else ComplaintView(*row)


_BY_REFERENCE = select(
    Complaint.reference,
    Complaint.contact_id,
    Complaint.category,
    Complaint.urgent,
    Complaint.status,
    Complaint.created_at,
    Complaint.respond_by,
).where(Complaint.reference == bindparam("reference"))
