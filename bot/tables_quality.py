"""The service-quality loop's tables (issue 15): one satisfaction survey per closed case.

Kept apart from bot/tables.py so that each capability's tables stay readable; they share its
`Base`, so migrations and the schema check see them (bot/migrations/env.py imports this)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import utcnow
from bot.tables import Base, EncryptedText, UTCDateTime

# A survey's life: scheduled -> sent -> answered (rating) -> commented, or expired /
# not_sent (with the reason: no template outside the WhatsApp window, contact stopped, ...).
SURVEY_STATUSES = ("scheduled", "sent", "answered", "commented", "expired", "not_sent")


class Survey(Base):
    """How it went, asked once per closed case (Chatwoot's CSAT: 1-5, once per resolution);
    the row carries what the reports group by: channel, domain, the staff member who closed."""

    __tablename__ = "surveys"
    __table_args__ = (
        UniqueConstraint("case_kind", "case_id"),
        Index("ix_surveys_due", "status", "scheduled_for"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_kind: Mapped[str] = mapped_column(String(16))  # request | complaint | handoff
    case_id: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(24))  # the case's, where it has one
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str | None] = mapped_column(String(40))
    closed_by: Mapped[str | None] = mapped_column(String(254))  # staff email
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    not_sent_reason: Mapped[str | None] = mapped_column(String(64))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    rating: Mapped[int | None] = mapped_column(Integer)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(EncryptedText)
    # The service-recovery case a low rating opened (a staff_tasks row, kind "survey_follow_up").
    follow_up_task_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_tasks.id", ondelete="SET NULL")
    )
