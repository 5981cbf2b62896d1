"""The SLA and staff-notification tables (issue 15).

`sla_alerts` holds each reminder, escalation and late notice sent about a deadline, UNIQUE per
case, deadline, kind and due moment: the worker inserts the row before it tells anyone, so two
workers never double one, and a deadline moved by a pause earns its own reminder.
`staff_notifications` is the outbox of staff notifications (email, the staff Telegram chat):
one row per item and recipient, UNIQUE per item, claimed before it is sent and marked after,
so nothing is sent twice nor lost when a worker dies. Both share bot/tables.py's `Base`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import utcnow
from bot.tables import Base, UTCDateTime

ALERT_KINDS = ("remind", "escalate", "late_notice")
NOTIFICATION_STATUSES = ("pending", "sending", "sent", "failed")


class SlaAlert(Base):
    """A reminder, escalation or late notice about one deadline of one case, sent once."""

    __tablename__ = "sla_alerts"
    __table_args__ = (
        UniqueConstraint("case_kind", "case_id", "deadline", "kind", "due_at"),
        Index("ix_sla_alerts_case", "case_kind", "case_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_kind: Mapped[str] = mapped_column(String(16))  # request | complaint | handoff
    case_id: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[str] = mapped_column(String(16))  # decision | response | resolution
    kind: Mapped[str] = mapped_column(String(16))  # remind | escalate | late_notice
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_to: Mapped[str | None] = mapped_column(String(254))  # staff email, or the contact
    # The late notice's new expected date, told to the beneficiary.
    expected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(Integer)  # the late notice's message
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffNotification(Base):
    """One thing a staff member (or the staff chat) is told of, with a link to the console;
    rows of one recipient pending together go out as one digest."""

    __tablename__ = "staff_notifications"
    __table_args__ = (
        UniqueConstraint("item_key", "recipient"),
        Index("ix_staff_notifications_due", "status", "recipient", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What it is about, e.g. "handoff:12", "sla:request:3:decision:remind:1767..."
    item_key: Mapped[str] = mapped_column(String(120))
    recipient: Mapped[str] = mapped_column(String(260))  # "email:<address>" | "telegram:<chat>"
    kind: Mapped[str] = mapped_column(String(32))
    # Staff-facing text: a reference, a category, a deadline; no beneficiary's personal data.
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
