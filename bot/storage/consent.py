"""Consent records: a yes or no per purpose, recorded by the turn's save step with when,
where and the wording shown; the contact's latest answer."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import Database
from bot.effects import RecordConsent
from bot.storage.turn_write import TurnWrite
from bot.tables import ConsentRecord


def record_consent(write: TurnWrite, effect: RecordConsent) -> None:
    write.insert(
        "consent_records",
        {
            "contact_id": write.contact_id,
            "purpose": effect.purpose,
            "granted": effect.granted,
            "channel": write.channel,
            "address_id": write.address_id,
            "source": effect.source,
            "wording_version": effect.wording_version,
            "created_at": write.now,
        },
    )


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
