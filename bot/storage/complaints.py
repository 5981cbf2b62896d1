"""Complaints and suggestions, each with its category, urgency and response deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.db import Database
from bot.models import utcnow
from bot.storage.audit import add_contact_audit
from bot.storage.references import COMPLAINT_PREFIX, new_reference
from bot.tables import Complaint


class Complaints:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def file_complaint(
        self,
        *,
        contact_id: int,
        channel: str,
        category: str,
        urgent: bool,
        description: str,
        attachments: list[dict[str, Any]],
        respond_within: timedelta,
    ) -> tuple[str, datetime]:
        """Store a complaint; returns its reference and the time we promised to respond by."""
        return await self.db.run(
            self._file_complaint,
            contact_id,
            channel,
            category,
            urgent,
            description,
            attachments,
            respond_within,
        )

    def _file_complaint(
        self,
        contact_id: int,
        channel: str,
        category: str,
        urgent: bool,
        description: str,
        attachments: list[dict[str, Any]],
        respond_within: timedelta,
    ) -> tuple[str, datetime]:
        now = utcnow()
        with self.db.sessions.begin() as session:
            complaint = Complaint(
                reference=new_reference(COMPLAINT_PREFIX),
                contact_id=contact_id,
                category=category,
                urgent=urgent,
                description=description,
                attachments=attachments or None,
                status="open",
                channel=channel,
                created_at=now,
                respond_by=now + respond_within,
            )
            session.add(complaint)
            session.flush()
            add_contact_audit(session, contact_id, "complaint.filed", complaint.reference)
            return complaint.reference, complaint.respond_by
