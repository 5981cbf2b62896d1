"""The staff-notification outbox: digests claimed per recipient, then marked sent.

A worker claims every pending notification of one recipient in one UPDATE (a claim token
on the rows), sends them as one digest, then marks them sent; a second worker's UPDATE
finds them claimed and takes nothing. A claim left by a worker that died is taken again
once stale, so nothing is lost; a failed send is released for the next round, and after
MAX_ATTEMPTS the rows are left "failed" (visible, with the error).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from bot.db import Database
from bot.tables_sla import StaffNotification

STALE_CLAIM = timedelta(minutes=5)  # a send takes seconds; a claim this old was cut off
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Pending:
    id: int
    kind: str
    text: str
    link: str
    created_at: datetime


def _takeable(now: datetime) -> object:
    n = StaffNotification
    return or_(
        n.status == "pending",
        and_(n.status == "sending", n.claimed_at < now - STALE_CLAIM),
    )


class StaffNotifications:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def due_recipients(self, now: datetime, window: timedelta) -> list[str]:
        """Recipients whose oldest waiting notification has waited `window`: their digest
        is complete (whatever came within the window joins it)."""
        return await self.db.run(self._due, now, window)

    def _due(self, now: datetime, window: timedelta) -> list[str]:
        n = StaffNotification
        with self.db.sessions() as session:
            rows = session.execute(
                select(n.recipient)
                .where(_takeable(now))  # type: ignore[arg-type]
                .group_by(n.recipient)
                .having(func.min(n.created_at) <= now - window)
            )
            return [recipient for (recipient,) in rows]

    async def claim(self, recipient: str, now: datetime, token: str) -> list[Pending]:
        """Take the recipient's waiting notifications for one digest (none if another
        worker took them)."""
        return await self.db.run(self._claim, recipient, now, token)

    def _claim(self, recipient: str, now: datetime, token: str) -> list[Pending]:
        n = StaffNotification
        with self.db.sessions.begin() as session:
            session.execute(
                update(n)
                .where(n.recipient == recipient, _takeable(now))  # type: ignore[arg-type]
                .values(status="sending", claim=token, claimed_at=now, attempts=n.attempts + 1)
            )
        with self.db.sessions() as session:
            rows = session.scalars(select(n).where(n.claim == token).order_by(n.created_at, n.id))
            return [Pending(r.id, r.kind, r.text, r.link, r.created_at) for r in rows]

    async def mark_sent(self, token: str, now: datetime) -> None:
        await self.db.run(self._mark_sent, token, now)

    def _mark_sent(self, token: str, now: datetime) -> None:
        n = StaffNotification
        with self.db.sessions.begin() as session:
            session.execute(
                update(n)
                .where(n.claim == token, n.status == "sending")
                .values(status="sent", sent_at=now, error=None)
            )

    async def release(self, token: str, error: str) -> None:
        """A send failed: back to pending for the next round, or failed after the last try."""
        await self.db.run(self._release, token, error)

    def _release(self, token: str, error: str) -> None:
        n = StaffNotification
        with self.db.sessions.begin() as session:
            for status, attempts in (("failed", n.attempts >= MAX_ATTEMPTS),
                                     ("pending", n.attempts < MAX_ATTEMPTS)):  # fmt: skip
                session.execute(
                    update(n)
                    .where(n.claim == token, n.status == "sending", attempts)
                    .values(status=status, claim=None, error=error[:255])
                )
