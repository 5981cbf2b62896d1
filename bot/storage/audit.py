"""The audit log's API for staff actions: who viewed or changed whose data, when, from where.

The privacy policies ask that access to beneficiaries' data be accountable. A turn's own
entries are written inside its transaction (bot/storage/turn_write.py); the console calls
:meth:`AuditLog.record` for what staff do, in its own short transaction, and the admins'
audit page reads :meth:`AuditLog.search`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.db import Database
from bot.models import utcnow
from bot.tables import AuditEntry

ADDRESS_LENGTH = 64
SEARCH_LIMIT = 200


@dataclass(frozen=True)
class Subject:
    """Whose record an action touched, e.g. Subject("contact", 12)."""

    type: str
    id: int | None = None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str | None
    subject_id: int | None
    details: dict[str, Any] | None
    address: str | None


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self,
        actor: str,
        action: str,
        subject: Subject | None = None,
        details: dict[str, Any] | None = None,
        client_address: str | None = None,
    ) -> None:
        """One entry, e.g. record("noura@example.org", "contact.viewed", Subject("contact",
        12), {"fields": ["national_id"]}, "10.0.0.5"). Details must be JSON; keep personal
        values out of them (the log is not encrypted): name fields, not their contents."""
        entry = AuditEntry(
            at=utcnow(),
            actor=actor[:64],
            action=action[:64],
            subject_type=subject.type if subject else None,
            subject_id=subject.id if subject else None,
            details=details,
            address=client_address[:ADDRESS_LENGTH] if client_address else None,
        )
        await self.db.run(self._insert, entry)

    def _insert(self, entry: AuditEntry) -> None:
        with self.db.sessions.begin() as session:
            session.add(entry)

    async def search(
        self,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[AuditRecord]:
        """The newest entries first; `action` matches a prefix ("contact." finds them all)."""
        return await self.db.run(self._search, actor, action, since, until, limit)

    def _search(
        self,
        actor: str | None,
        action: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> list[AuditRecord]:
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        with self.db.sessions() as session:
            rows = session.scalars(query.limit(limit)).all()
            return [
                AuditRecord(
                    row.id,
                    row.at,
                    row.actor,
                    row.action,
                    row.subject_type,
                    row.subject_id,
                    row.details,
                    row.address,
                )
                for row in rows
            ]
