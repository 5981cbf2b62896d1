"""The questions the FAQ could not answer, kept on their inbound message's row.

A turn whose message the FAQ had no answer for, or answered only with "did you mean",
carries a `FaqMissed` effect; the save step writes its kind into the row's `error_code`
(an inbound row has no delivery error of its own, and its `status` stays "handled", which
the sweeps and the tests of "nothing is lost" rely on). The manager's reports and the page
where staff teach the FAQ both read them with :func:`unanswered_messages` and
:func:`group_questions`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from bot.db import Database
from bot.effects import FAQ_SUGGESTED, FAQ_UNANSWERED, FaqMissed
from bot.storage.turn_write import TurnWrite
from bot.tables import Contact, Conversation, Message
from bot.text import normalize_for_matching

MISSED_KINDS = (FAQ_UNANSWERED, FAQ_SUGGESTED)

_MARK = (
    update(Message)
    .where(Message.id == bindparam("message_id"), Message.direction == "in")
    .values(error_code=bindparam("kind"))
)


def mark_missed(write: TurnWrite, effect: FaqMissed) -> None:
    """The save step's part: the kind on the message's row, in the turn's transaction."""
    write.execute(_MARK, {"message_id": effect.message_id, "kind": effect.kind})


@dataclass(frozen=True)
class UnansweredMessage:
    """One message the FAQ missed: when, where, in which language, what it said."""

    message_id: int
    asked_at: datetime
    channel: str
    language: str | None
    kind: str  # FAQ_UNANSWERED | FAQ_SUGGESTED
    text: str


@dataclass(frozen=True)
class AskedQuestion:
    """The same question (once normalised) asked `count` times: its latest wording."""

    text: str
    count: int
    unanswered: int  # of which the FAQ had nothing to offer
    suggested: int  # and of which it offered "did you mean"
    last_asked: datetime
    channels: tuple[str, ...]
    language: str | None


def unanswered_messages(db: Database, start: datetime, end: datetime) -> list[UnansweredMessage]:
    """Messages received in [start, end) that the FAQ missed, oldest first (sync: call it
    through ``db.run``)."""
    query = (
        select(
            Message.id,
            Message.created_at,
            Message.channel,
            Contact.language,
            Message.error_code,
            Message.body,
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(
            Message.direction == "in",
            Message.error_code.in_(MISSED_KINDS),
            Message.created_at >= start,
            Message.created_at < end,
        )
        .order_by(Message.created_at, Message.id)
    )
    with db.sessions() as session:
        return [
            UnansweredMessage(row[0], row[1], row[2], row[3], str(row[4]), row[5] or "")
            for row in session.execute(query)
            if (row[5] or "").strip()
        ]


def group_questions(messages: Iterable[UnansweredMessage]) -> list[AskedQuestion]:
    """The same question written the same way (letter forms, digits, case and punctuation
    aside) counted once; the most asked first."""
    groups: dict[str, list[UnansweredMessage]] = {}
    for message in messages:
        groups.setdefault(normalize_for_matching(message.text), []).append(message)
    asked = []
    for group in groups.values():
        latest = max(group, key=lambda m: (m.asked_at, m.message_id))
        asked.append(
            AskedQuestion(
                text=latest.text.strip(),
                count=len(group),
                unanswered=sum(1 for m in group if m.kind == FAQ_UNANSWERED),
                suggested=sum(1 for m in group if m.kind == FAQ_SUGGESTED),
                last_asked=latest.asked_at,
                channels=tuple(sorted({m.channel for m in group})),
                language=latest.language,
            )
        )
    asked.sort(key=lambda q: (-q.count, -q.last_asked.timestamp(), q.text))
    return asked
