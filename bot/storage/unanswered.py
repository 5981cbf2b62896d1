"""The questions the FAQ could not answer: recorded in the turn's own transaction (an
effect, bot/effects.py), grouped by their normalised text for the console's questions page
and the reports (:func:`unanswered_questions`, the one query both use), and dismissed by
staff as not an FAQ.

The text is kept encrypted; it is grouped by `question_key`, the keyed hash of the text
normalised as every FAQ comparison normalises it (bot/text.py), so a question written with
and without diacritics, ta marbuta or its question mark counts as one question."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from bot.crypto import Cipher
from bot.db import Database
from bot.effects import RecordUnanswered
from bot.models import utcnow
from bot.storage.turn_write import TurnWrite
from bot.tables import AuditEntry
from bot.tables_faq import FaqQuestionReview, UnansweredQuestion
from bot.text import normalize_for_matching

__all__ = [
    "MAX_QUESTION",
    "UnansweredGroup",
    "UnansweredQuestions",
    "question_key",
    "record_unanswered",
    "unanswered_questions",
]

MAX_QUESTION = 1000  # characters kept of a question (a long story is cut)
DEFAULT_LIMIT = 100


def question_key(cipher: Cipher, text: str) -> str:
    """What groups asks of one question: the keyed hash of its normalised text."""
    return cipher.lookup_hash(normalize_for_matching(text))


def record_unanswered(write: TurnWrite, effect: RecordUnanswered) -> None:
    question = effect.question.strip()[:MAX_QUESTION]
    write.insert(
        "unanswered_questions",
        {
            "asked_at": write.now,
            "contact_id": write.contact_id,
            "channel": write.channel,
            "language": effect.language[:8],
            "outcome": effect.outcome,
            "question": question,
            "question_key": question_key(write.cipher, question),
            "suggested": ",".join(effect.suggested)[:255],
        },
    )


@dataclass(frozen=True)
class UnansweredGroup:
    """One question and its asks in the period: the latest wording, how often, by how many
    people, how often only "did you mean" was offered, and what staff decided (if they did)."""

    key: str
    question: str
    language: str
    asks: int
    people: int
    suggested_asks: int
    suggested: tuple[str, ...]
    first_asked: datetime
    last_asked: datetime
    channels: tuple[str, ...]
    review: str | None = None  # attached | new_entry | dismissed
    entry_id: str | None = None
    reviewed_by: str | None = None


def _groups(
    db: Database,
    since: datetime | None,
    until: datetime | None,
    pending_only: bool,
    limit: int,
    key: str | None,
) -> list[UnansweredGroup]:
    q = UnansweredQuestion
    review = FaqQuestionReview
    conditions: list[Any] = []
    if since is not None:
        conditions.append(q.asked_at >= since)
    if until is not None:
        conditions.append(q.asked_at < until)
    if key is not None:
        conditions.append(q.question_key == key)
    asks = func.count(q.id)
    aggregate = (
        select(
            q.question_key,
            asks,
            func.count(func.distinct(q.contact_id)),
            func.sum(case((q.outcome == "suggest", 1), else_=0)),
            func.min(q.asked_at),
            func.max(q.asked_at),
            func.max(q.id),
            review.action,
            review.entry_id,
            review.reviewed_by,
        )
        .outerjoin(review, review.question_key == q.question_key)
        .where(*conditions)
        .group_by(q.question_key, review.action, review.entry_id, review.reviewed_by)
        .order_by(asks.desc(), func.max(q.asked_at).desc())
        .limit(limit)
    )
    if pending_only:
        aggregate = aggregate.where(review.action.is_(None))
    with db.sessions() as session:
        rows = session.execute(aggregate).all()
        latest_ids = [row[6] for row in rows]
        latest = {
            row.id: row
            for row in session.execute(
                select(q.id, q.question, q.language, q.suggested).where(q.id.in_(latest_ids))
            )
        }
        channels: dict[str, set[str]] = {}
        keys = [row[0] for row in rows]
        if keys:
            found = select(q.question_key, q.channel).where(q.question_key.in_(keys), *conditions)
            for found_key, channel in session.execute(found.distinct()):
                channels.setdefault(found_key, set()).add(channel)
    groups = []
    for row in rows:
        last = latest[row[6]]
        groups.append(
            UnansweredGroup(
                key=row[0],
                question=last.question,
                language=last.language,
                asks=int(row[1]),
                people=int(row[2]),
                suggested_asks=int(row[3] or 0),
                suggested=tuple(s for s in (last.suggested or "").split(",") if s),
                first_asked=row[4],
                last_asked=row[5],
                channels=tuple(sorted(channels.get(row[0], ()))),
                review=row[7],
                entry_id=row[8],
                reviewed_by=row[9],
            )
        )
    return groups


async def unanswered_questions(
    db: Database,
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    pending_only: bool = True,
    limit: int = DEFAULT_LIMIT,
) -> list[UnansweredGroup]:
    """The questions asked in [since, until) that the FAQ could not answer (or answered only
    with "did you mean"), most asked first; `pending_only` leaves out those staff have dealt
    with (attached, answered with a new entry, dismissed)."""
    return await db.run(_groups, db, since, until, pending_only, limit, None)


class UnansweredQuestions:
    """The console's reads and the one decision of its own: not an FAQ (dismissed)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def questions(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        pending_only: bool = True,
        limit: int = DEFAULT_LIMIT,
    ) -> list[UnansweredGroup]:
        return await unanswered_questions(
            self.db, since, until, pending_only=pending_only, limit=limit
        )

    async def question(self, key: str) -> UnansweredGroup | None:
        """One question with all its asks, whatever staff decided; None if never asked."""
        found = await self.db.run(_groups, self.db, None, None, False, 1, key)
        return found[0] if found else None

    async def dismiss(self, key: str, staff_email: str, client_address: str | None) -> None:
        """Not an FAQ: off the list, with who decided and when (audited)."""
        await self.db.run(self._dismiss, key, staff_email, client_address)

    def _dismiss(self, key: str, staff_email: str, client_address: str | None) -> None:
        with self.db.sessions.begin() as session:
            review_question(session, key, "dismissed", None, staff_email)
            details = {"key": key[:16]}
            session.add(staff_audit(staff_email, "faq.question_dismissed", details, client_address))


def review_question(
    session: Any, key: str, action: str, entry_id: str | None, staff_email: str
) -> None:
    """Record (or replace) what staff decided about the question with this key."""
    found = session.get(FaqQuestionReview, key)
    if found is None:
        found = FaqQuestionReview(question_key=key)
        session.add(found)
    found.action, found.entry_id = action, entry_id
    found.reviewed_by, found.reviewed_at = staff_email[:254], utcnow()


def staff_audit(
    staff_email: str, action: str, details: dict[str, Any], client_address: str | None
) -> AuditEntry:
    """An audit entry written in the same transaction as the change it records."""
    return AuditEntry(
        at=utcnow(),
        actor=staff_email[:64],
        action=action,
        subject_type="faq",
        subject_id=None,
        details=details,
        address=client_address[:64] if client_address else None,
    )
