"""The turn's save step applies each effect with the module of its kind of record."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bot.effects import (
    Audit,
    CommentSurvey,
    CreateTask,
    Effect,
    FileComplaint,
    FileRequest,
    LinkPhone,
    OpenHandoff,
    RateSurvey,
    RecordConsent,
    RecordUnanswered,
    SendToAddress,
    SetLanguage,
)
from bot.storage import complaints, consent, contacts, handoffs, requests, surveys, unanswered
from bot.storage.turn_write import TurnWrite


def _audit(write: TurnWrite, effect: Audit) -> None:
    write.audit(effect.action, effect.details)


_APPLY: dict[type[Any], Callable[[TurnWrite, Any], None]] = {
    SetLanguage: contacts.set_language,
    RecordConsent: consent.record_consent,
    Audit: _audit,
    FileRequest: requests.file_request,
    FileComplaint: complaints.file_complaint,
    OpenHandoff: handoffs.open_handoff,
    CreateTask: handoffs.create_task,
    SendToAddress: contacts.send_to_address,
    LinkPhone: contacts.link_phone,
    RecordUnanswered: unanswered.record_unanswered,
    RateSurvey: surveys.rate,
    CommentSurvey: surveys.comment,
}


def apply_effects(write: TurnWrite, effects: Iterable[Effect]) -> None:
    """Apply the effects in the order the handlers made them."""
    for effect in effects:
        _APPLY[type(effect)](write, effect)
