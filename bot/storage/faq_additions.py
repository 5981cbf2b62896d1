"""What staff taught the FAQ: a phrasing added to an entry, or a new entry in both
languages, each with who added it and when. The profile file is never rewritten; every
process merges these over it (bot/faq_live.py). Each addition, the decision about the
question it answers and its audit entry are one transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.db import Database
from bot.models import utcnow
from bot.storage.unanswered import review_question, staff_audit
from bot.tables_faq import FaqAddition

__all__ = ["Addition", "FaqAdditions", "NewEntry"]


@dataclass(frozen=True)
class Addition:
    id: int
    kind: str  # phrasing | entry
    entry_id: str
    topic_id: str | None
    language: str | None
    question_ar: str | None
    question_en: str | None
    answer_ar: str | None
    answer_en: str | None
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class NewEntry:
    """A new FAQ entry: its topic, the question and the answer in both languages."""

    topic_id: str
    question_ar: str
    question_en: str
    answer_ar: str
    answer_en: str


def _addition(row: FaqAddition) -> Addition:
    return Addition(
        row.id,
        row.kind,
        row.entry_id,
        row.topic_id,
        row.language,
        row.question_ar,
        row.question_en,
        row.answer_ar,
        row.answer_en,
        row.added_by,
        row.added_at,
    )


class FaqAdditions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self) -> list[Addition]:
        """Every addition, oldest first (the order they are merged in)."""
        return await self.db.run(self._all)

    def _all(self) -> list[Addition]:
        with self.db.sessions() as session:
            rows = session.scalars(select(FaqAddition).order_by(FaqAddition.id)).all()
            return [_addition(row) for row in rows]

    async def add_phrasing(
        self,
        entry_id: str,
        language: str,
        text: str,
        staff_email: str,
        question_key: str | None = None,
        client_address: str | None = None,
    ) -> Addition:
        """`text` becomes a phrasing of `entry_id` in `language` ("ar"/"en")."""
        row = FaqAddition(kind="phrasing", entry_id=entry_id, language=language)
        if language == "en":
            row.question_en = text
        else:
            row.question_ar = text
        return await self.db.run(self._add, row, staff_email, question_key, client_address)

    async def add_entry(
        self,
        entry: NewEntry,
        staff_email: str,
        question_key: str | None = None,
        client_address: str | None = None,
    ) -> Addition:
        """A new entry of `entry.topic_id`, with an id of its own ("staff-…")."""
        row = FaqAddition(
            kind="entry",
            entry_id=f"staff-{secrets.token_hex(4)}",
            topic_id=entry.topic_id,
            question_ar=entry.question_ar,
            question_en=entry.question_en,
            answer_ar=entry.answer_ar,
            answer_en=entry.answer_en,
        )
        return await self.db.run(self._add, row, staff_email, question_key, client_address)

    def _add(
        self,
        row: FaqAddition,
        staff_email: str,
        question_key: str | None,
        client_address: str | None,
    ) -> Addition:
        row.added_by, row.added_at, row.question_key = staff_email[:254], utcnow(), question_key
        with self.db.sessions.begin() as session:
            session.add(row)
            session.flush()
            if question_key is not None:
                action = "attached" if row.kind == "phrasing" else "new_entry"
                review_question(session, question_key, action, row.entry_id, staff_email)
            details = {"addition": row.id, "kind": row.kind, "entry": row.entry_id}
            session.add(staff_audit(staff_email, "faq.added", details, client_address))
            return _addition(row)
