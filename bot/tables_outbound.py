"""Outbound delivery's own tables (issue 14): the parts of a message split across several
provider messages, each with its provider id and status, so each part's report finds its
row and the message shows the least advanced of them.

Kept apart from bot/tables.py; shares its `Base` (bot/migrations/env.py imports this).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import utcnow
from bot.tables import Base, Message, UTCDateTime


class MessagePart(Base):
    """One provider message of an outbound message that went as several (a long SMS or
    Telegram text, WhatsApp media then text). Part 0 is the first; a message sent as one
    part has no rows here (its provider id is on the message)."""

    __tablename__ = "message_parts"
    __table_args__ = (
        UniqueConstraint("message_id", "part"),
        UniqueConstraint("channel", "provider_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The sweep looks for sends claimed long ago and never settled (their worker died); only
# those rows are indexed.
SENDING_INDEX = Index(
    "ix_messages_sending_outbound",
    Message.updated_at,
    sqlite_where=text("direction = 'out' AND status = 'sending'"),
    postgresql_where=text("direction = 'out' AND status = 'sending'"),
)
