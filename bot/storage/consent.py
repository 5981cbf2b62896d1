"""Consent records: the contact's latest yes or no per purpose (written by the turn's
save step, bot/storage/turn_effects.py)."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import Database
from bot.tables import ConsentRecord


class ConsentRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def consent(self, contact_id: int, purpose: str) -> bool | None:
        """The contact's latest answer for a purpose; None if never asked."""
        return await self.db.run(self._consent, contact_id, purpose)

    def _consent(self, contact_id: int, purpose: str) -> bool | None:
        with self.db.sessions() as session:
            granted: bool | None = session.scalar(
                select(ConsentRecord.granted)
                .where(ConsentRecord.contact_id == contact_id, ConsentRecord.purpose == purpose)
                .order_by(ConsentRecord.id.desc())
                .limit(1)
            )
            return granted
