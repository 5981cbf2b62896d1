"""Complaints and suggestions, each with its category, urgency and response deadline, filed
by the turn's save step."""

from __future__ import annotations

from bot.effects import FileComplaint
from bot.storage.turn_write import TurnWrite


def file_complaint(write: TurnWrite, effect: FileComplaint) -> None:
    write.insert(
        "complaints",
        {
            "reference": effect.reference,
            "contact_id": write.contact_id,
            "category": effect.category,
            "urgent": effect.urgent,
            "description": effect.description,
            "attachments": effect.attachments or None,
            "status": "open",
            "channel": write.channel,
            "created_at": write.now,
            "respond_by": effect.respond_by,
        },
    )
    write.audit("complaint.filed", {"reference": effect.reference})
