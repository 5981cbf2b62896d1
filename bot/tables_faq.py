"""The FAQ that learns from staff (issue 15): the questions the bot could not answer, what
staff decided about each, and the phrasings and entries they added.

The profile file on disk is never rewritten: staff additions live here, with who added them
and when, and every process merges them over the profile's FAQ (bot/faq_live.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import utcnow
from bot.tables import Base, EncryptedText, UTCDateTime

# What a turn's FAQ search gave: nothing good enough, or only "did you mean".
UNANSWERED_OUTCOMES = ("unknown", "suggest")
# What staff did with a question: attached it to an entry, wrote a new entry, or not an FAQ.
REVIEW_ACTIONS = ("attached", "new_entry", "dismissed")
ADDITION_KINDS = ("phrasing", "entry")


class UnansweredQuestion(Base):
    """One ask the FAQ could not answer, written in the turn's own transaction. Grouped by
    `question_key`, the keyed hash of the normalised text (bot/text.py), so that the same
    question asked with other diacritics, digits or spacing counts once; the text itself is
    encrypted (a beneficiary may write anything in a question)."""

    __tablename__ = "unanswered_questions"
    __table_args__ = (Index("ix_unanswered_questions_key_asked", "question_key", "asked_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(8))  # unknown | suggest
    question: Mapped[str] = mapped_column(EncryptedText)
    question_key: Mapped[str] = mapped_column(String(64))
    # The entries offered as "did you mean", comma-separated ("" when none).
    suggested: Mapped[str] = mapped_column(String(255), default="")


class FaqQuestionReview(Base):
    """What staff decided about one question (all its asks): attached, new entry, dismissed."""

    __tablename__ = "faq_question_reviews"
    question_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[str | None] = mapped_column(String(64))
    reviewed_by: Mapped[str] = mapped_column(String(254))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FaqAddition(Base):
    """A phrasing staff added to an entry, or an entry they wrote (both languages), merged
    over the profile's FAQ by every process from the next message on."""

    __tablename__ = "faq_additions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # phrasing | entry
    entry_id: Mapped[str] = mapped_column(String(64))
    topic_id: Mapped[str | None] = mapped_column(String(64))  # a new entry's topic
    language: Mapped[str | None] = mapped_column(String(8))  # a phrasing's
    question_ar: Mapped[str | None] = mapped_column(String(500))
    question_en: Mapped[str | None] = mapped_column(String(500))
    answer_ar: Mapped[str | None] = mapped_column(String(4000))
    answer_en: Mapped[str | None] = mapped_column(String(4000))
    added_by: Mapped[str] = mapped_column(String(254))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    question_key: Mapped[str | None] = mapped_column(String(64))  # the question it answers
