"""What a handler decides besides its replies. The turn's save step applies every effect in
the one transaction that also saves the conversation's new state and queues the replies
(bot/storage/turn_effects.py), so a handler that fails, or a process that dies, leaves
nothing half-done, and a provider's retry of the message files nothing twice. Handlers stay
free of SQL.

A record the beneficiary is told about in the same turn carries its reference, made when the
effect is (bot/storage/references.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.models import AddressKind


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class RecordConsent:
    purpose: str
    granted: bool
    source: str
    wording_version: str


@dataclass(frozen=True)
class Audit:
    action: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FileRequest:
    """A support request with the applicant's attestation; the national ID joins the contact."""

    reference: str
    request_type: str
    national_id: str
    answers: dict[str, Any]
    attestation_version: str
    attested_at: datetime
    decision_due: datetime
    full_name: str | None = None  # the form's name answer: staff find the request by it


@dataclass(frozen=True)
class FileComplaint:
    reference: str
    category: str
    urgent: bool
    description: str
    attachments: list[dict[str, Any]]
    respond_by: datetime


@dataclass(frozen=True)
class OpenHandoff:
    """Hand the conversation to the domain's officer; the saved state's `handoff` becomes the
    new hand-off's id (made in the same transaction)."""

    domain: str
    officer_email: str
    reason: str
    # If nobody has answered by `remind_at`, the beneficiary is sent `reminder` (in their
    # language) saying what happens next; the application schedules it once the turn is saved.
    remind_at: datetime | None = None
    reminder: str | None = None


@dataclass(frozen=True)
class CreateTask:
    """Work for staff that the bot cannot do itself, such as deleting a contact's data."""

    reference: str
    kind: str
    details: dict[str, Any]


@dataclass(frozen=True)
class SendToAddress:
    """A message to another address than the one being answered (a verification code to a
    phone that may never have written); that address gets a contact of its own until it is
    verified."""

    channel: str
    kind: AddressKind
    address: str
    text: str


@dataclass(frozen=True)
class LinkPhone:
    """The phone was verified: its contact, with all its history, joins this one."""

    phone: str


@dataclass(frozen=True)
class RecordUnanswered:
    """A question the FAQ could not answer ("unknown") or answered only with "did you mean"
    ("suggest", with the entries offered): listed for staff in the console, to teach the FAQ."""

    question: str
    outcome: str
    language: str
    suggested: tuple[str, ...] = ()


@dataclass(frozen=True)
class RateSurvey:
    """The beneficiary's rating of a closed case (bot/storage/surveys.py); a low one opens
    the quality officer's follow-up, a staff task with the reference given."""

    survey_id: int
    rating: int
    follow_up_reference: str | None = None


@dataclass(frozen=True)
class CommentSurvey:
    survey_id: int
    comment: str


Effect = (
    SetLanguage
    | RecordConsent
    | Audit
    | FileRequest
    | FileComplaint
    | OpenHandoff
    | CreateTask
    | SendToAddress
    | LinkPhone
    | RecordUnanswered
    | RateSurvey
    | CommentSurvey
)
