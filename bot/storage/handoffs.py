"""Hand-offs to staff and staff tasks: work for a person, which a turn opens (in its save
step) and staff close."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.db import Database
from bot.effects import CreateTask, OpenHandoff
from bot.models import DeliveryStatus, OutboundMessage, utcnow
from bot.storage.turn_write import TurnWrite
from bot.tables import Conversation, Handoff, Message, StaffTask

# How close a hand-off's stored opening time is to the one a reminder was scheduled with
# (databases keep different precisions).
_SAME_MOMENT = timedelta(seconds=1)


def open_handoff(write: TurnWrite, effect: OpenHandoff) -> None:
    """Open the hand-off; the state saved with the turn names it, so the bot stays quiet."""
    handoff_id = write.insert(
        "handoffs",
        {
            "contact_id": write.contact_id,
            "conversation_id": write.conversation_id,
            "domain": effect.domain,
            "officer_email": effect.officer_email,
            "reason": effect.reason,
            "status": "open",
            "opened_at": write.now,
        },
    )
    write.state["handoff"] = handoff_id
    write.audit("handoff.opened", {"reference": str(handoff_id)})


def create_task(write: TurnWrite, effect: CreateTask) -> None:
    write.insert(
        "staff_tasks",
        {
            "reference": effect.reference,
            "kind": effect.kind,
            "contact_id": write.contact_id,
            "status": "open",
            "details": effect.details,
            "created_at": write.now,
        },
    )
    write.audit(f"task.{effect.kind}", {"reference": effect.reference})


def close_tasks(
    session: Session, contact_id: int, kind: str, actor: str, now: datetime
) -> list[str]:
    """Close the contact's open tasks of `kind` in the caller's transaction, keeping who
    closed them and when (in the task's details: staff work, nothing of the beneficiary's);
    returns their references, for the audit row."""
    closed: list[str] = []
    for task in session.scalars(
        select(StaffTask).where(
            StaffTask.contact_id == contact_id, StaffTask.kind == kind, StaffTask.status == "open"
        )
    ):
        task.status = "closed"
        task.details = {"closed_by": actor[:64], "closed_at": now.isoformat()}
        closed.append(task.reference)
    return closed


class Handoffs:
    """What staff do to hand-offs (the console)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def close_handoff(self, handoff_id: int, closed_by: str) -> None:
        await self.db.run(self._close_handoff, handoff_id, closed_by)

    async def remind_unanswered(
        self, conversation_id: int, opened_at: datetime, text: str
    ) -> int | None:
        """Queue `text` to the beneficiary of the hand-off opened at `opened_at` if nobody has
        answered it: still open, the conversation still with staff (the beneficiary did not
        come back to the bot), and nothing sent to them since it opened. Returns the queued
        message's id, or None when there is nothing to tell (a second run finds its own)."""
        return await self.db.run(self._remind_unanswered, conversation_id, opened_at, text)

    def _remind_unanswered(
        self, conversation_id: int, opened_at: datetime, text: str
    ) -> int | None:
        with self.db.sessions.begin() as session:
            handoff = session.scalar(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id)
                .order_by(Handoff.id.desc())
                .limit(1)
            )
            if (
                handoff is None
                or handoff.status != "open"
                or abs(handoff.opened_at - opened_at) > _SAME_MOMENT
            ):
                return None
            conversation = session.get(Conversation, conversation_id)
            state = (conversation.state if conversation is not None else None) or {}
            if state.get("handoff") != handoff.id:
                return None
            # The hand-off's own announcement is saved with the very moment it opens; anything
            # later is an answer (or this reminder, sent already).
            answered = session.scalar(
                select(Message.id)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.direction == "out",
                    Message.created_at > handoff.opened_at,
                )
                .limit(1)
            )
            last_in = session.scalar(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.direction == "in")
                .order_by(Message.id.desc())
                .limit(1)
            )
            if answered is not None or last_in is None:
                return None
            now = utcnow()
            reminder = Message(
                conversation_id=conversation_id,
                address_id=last_in.address_id,
                direction="out",
                channel=last_in.channel,
                provider_id=None,
                body=text,
                payload=OutboundMessage(text=text).to_json(),
                status=DeliveryStatus.QUEUED.value,
                error_code=None,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            session.add(reminder)
            session.flush()
            return reminder.id

    def _close_handoff(self, handoff_id: int, closed_by: str) -> None:
        with self.db.sessions.begin() as session:
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id)
                .values(status="closed", closed_at=utcnow(), closed_by=closed_by)
            )
