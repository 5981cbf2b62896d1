"""The audit log: who did what to whose data (the privacy policy's accountability)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.tables import AuditEntry


def add_contact_audit(session: Session, contact_id: int, action: str, reference: str) -> None:
    """An entry for something a contact did to their own records."""
    session.add(
        AuditEntry(
            actor=f"contact:{contact_id}",
            action=action,
            subject_type="contact",
            subject_id=contact_id,
            details={"reference": reference},
        )
    )
