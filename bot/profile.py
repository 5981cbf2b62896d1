"""The organisation profile: who the association is, and how its beneficiary service works.

An administrator describes the association in one YAML file (see `profiles/example.yaml`): names,
contact details, working hours, FAQ, the support-request form, request types, complaint
categories, the contact officer per domain, SLAs and the survey. This module is the schema;
`bot.profile_loader.load_profile` reads the file and reports every mistake at its YAML path.
The kinds of form field live in `bot.fields`, the shared building blocks in `bot.profile_types`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.fields import ChoiceField, FormField
from bot.profile_references import SKIP_REFERENCE_CHECKS, reference_errors
from bot.profile_sla import HolidayEntry, Notifications, Sla
from bot.profile_types import (
    ChoiceOption,
    Identifier,
    LocalizedText,
    LocalizedVariants,
    NonEmptyStr,
    PhoneNumber,
    StrictModel,
)

__all__ = [
    "WEEKDAYS",
    "Attestation",
    "ComplaintCategory",
    "Consent",
    "Contact",
    "Domain",
    "FaqEntry",
    "FaqTopic",
    "Officer",
    "Profile",
    "RequestType",
    "Sla",
    "SupportForm",
    "Survey",
    "TimeRange",
    "WhatsAppTemplate",
    "WorkingHours",
]

# Saudi week order; index 0 is Sunday.
WEEKDAYS: tuple[str, ...] = (
    "sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
)  # fmt: skip

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_TELEGRAM_RE = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{4,31}|-?\d{5,})$")
_URL = TypeAdapter(HttpUrl)


def _quoted_phone(value: Any) -> Any:
    # Unquoted +966... is an int in YAML, and 05... may even be read as octal: ask for quotes.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f'write phone numbers in quotes, e.g. "+966501234567" (got {value!r})')
    return value


def _check_email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError(f"not an email address (got {value!r})")
    return value


def _check_url(value: str) -> str:
    try:
        _URL.validate_python(value)
    except ValidationError:
        raise ValueError(f"not an http(s) URL (got {value!r})") from None
    return value


def _parse_time(value: Any) -> Any:
    # YAML 1.1 reads unquoted 14:00 as the base-60 integer 840 (= 14*60); 08:00 stays a string.
    if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    match = _TIME_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'must be a time written as HH:MM, e.g. "08:00" (got {value!r})')
    return f"{int(match[1]):02d}:{match[2]}"


def _telegram_handle(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not _TELEGRAM_RE.match(value.strip()):
        raise ValueError(f"must be an @username or a numeric chat id (got {value!r})")
    return value


QuotedPhone = Annotated[PhoneNumber, BeforeValidator(_quoted_phone)]
Email = Annotated[str, AfterValidator(_check_email)]
Url = Annotated[str, AfterValidator(_check_url)]
ClockTime = Annotated[str, BeforeValidator(_parse_time)]


class Contact(StrictModel):
    """How beneficiaries reach the association; phone numbers are stored as E.164."""

    phone: QuotedPhone
    whatsapp: QuotedPhone | None = None
    email: Email
    website: Url | None = None
    address: LocalizedText


class TimeRange(StrictModel):
    """One opening period of a day, local time of the profile; `close` is exclusive."""

    open: ClockTime
    close: ClockTime

    @field_validator("close")
    @classmethod
    def _ordered(cls, value: str, info: ValidationInfo) -> str:
        opening = info.data.get("open")
        if opening is not None and value <= opening:
            raise ValueError(f"is {value}, not after open ({opening})")
        return value

    @property
    def open_time(self) -> time:
        """`open` as a `datetime.time`."""
        return time.fromisoformat(self.open)

    @property
    def close_time(self) -> time:
        """`close` as a `datetime.time`."""
        return time.fromisoformat(self.close)


class WorkingHours(StrictModel):
    """Opening periods per weekday; an empty or missing day is closed (usually Friday, Saturday)."""

    sunday: list[TimeRange] = Field(default_factory=list)
    monday: list[TimeRange] = Field(default_factory=list)
    tuesday: list[TimeRange] = Field(default_factory=list)
    wednesday: list[TimeRange] = Field(default_factory=list)
    thursday: list[TimeRange] = Field(default_factory=list)
    friday: list[TimeRange] = Field(default_factory=list)
    saturday: list[TimeRange] = Field(default_factory=list)

    @field_validator(*WEEKDAYS)
    @classmethod
    def _no_overlap(cls, ranges: list[TimeRange]) -> list[TimeRange]:
        ranges = sorted(ranges, key=lambda r: r.open)
        for first, second in pairwise(ranges):
            if second.open < first.close:
                raise ValueError(
                    f"periods {first.open}-{first.close} and {second.open}-{second.close} overlap"
                )
        return ranges

    def for_date(self, day: date) -> list[TimeRange]:
        """The periods of `day`'s weekday, sorted by opening time."""
        ranges: list[TimeRange] = getattr(self, WEEKDAYS[(day.weekday() + 1) % 7])
        return ranges


class Consent(StrictModel):
    """Consent to receive the association's updates (policy 004: electronic consent first)."""

    wording_version: NonEmptyStr
    updates_question: LocalizedText


class FaqEntry(StrictModel):
    """One question (in several phrasings per language) and its answer.

    `keywords` (optional, any language): words or short phrases that say this entry on their
    own ("family card", "rent"), matched like a short question of the entry; for the words a
    beneficiary uses that no phrasing has, beyond the shipped synonyms (bot/faq/lexicon.txt).
    """

    id: Identifier
    questions: LocalizedVariants
    answer: LocalizedText
    keywords: list[NonEmptyStr] = Field(default_factory=list, max_length=50)

    @field_validator("keywords")
    @classmethod
    def _distinct_short_keywords(cls, keywords: list[str]) -> list[str]:
        seen: set[str] = set()
        for keyword in keywords:
            if len(keyword.split()) > 4:
                raise ValueError(f"a keyword is a word or a short phrase (got {keyword!r})")
            if keyword.casefold() in seen:
                raise ValueError(f"keyword {keyword!r} is listed twice")
            seen.add(keyword.casefold())
        return keywords


class FaqTopic(StrictModel):
    """A group of FAQ entries shown as one menu item."""

    id: Identifier
    title: LocalizedText
    entries: list[FaqEntry] = Field(min_length=1)


class RequestType(StrictModel):
    """A kind of support a beneficiary can ask for; `domain` picks the contact officer."""

    id: Identifier
    label: LocalizedText
    domain: Identifier


class ComplaintCategory(StrictModel):
    """A complaint category; urgent ones use `sla.urgent_complaint_hours`."""

    id: Identifier
    label: LocalizedText
    domain: Identifier
    urgent: bool = False


class Officer(StrictModel):
    """The contact officer ("dabit ittisal" in the policies) who answers for a domain."""

    name: NonEmptyStr
    email: Email
    telegram: Annotated[str | None, BeforeValidator(_telegram_handle)] = None


class Domain(StrictModel):
    """An area of the association's work with its own contact officer."""

    id: Identifier
    label: LocalizedText
    officer: Officer
    # Who is told when the domain's deadlines pass (SLA escalation); else the officer.
    manager: Officer | None = None


class Survey(StrictModel):
    """The satisfaction survey; a score at or below `low_score_threshold` opens a follow-up."""

    question: LocalizedText
    scale_max: int = Field(default=5, ge=2, le=10)
    low_score_threshold: int = Field(default=2, ge=1)
    comment_prompt: LocalizedText
    thanks: LocalizedText
    # Asked this long after the case is closed (the beneficiary has had time to see the
    # outcome), and no longer asked once `expires_hours` have passed since then.
    delay_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    expires_hours: int = Field(default=72, ge=1, le=30 * 24)

    @model_validator(mode="after")
    def _expires_after_delay(self) -> Survey:
        if self.expires_hours * 60 <= self.delay_minutes:
            raise ValueError(
                f"expires_hours ({self.expires_hours}) must come after delay_minutes "
                f"({self.delay_minutes} minutes)"
            )
        return self

    @field_validator("low_score_threshold")
    @classmethod
    def _threshold(cls, value: int, info: ValidationInfo) -> int:
        scale_max = info.data.get("scale_max")
        if scale_max is not None and value >= scale_max:
            raise ValueError(f"is {value}, it must be below scale_max ({scale_max})")
        return value


class WhatsAppTemplate(StrictModel):
    """An approved WhatsApp template, the only thing sendable outside the 24-hour window."""

    twilio_content_sid: str | None = Field(default=None, pattern=r"^HX[0-9a-fA-F]{32}$")
    meta_name: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,512}$")
    language: str = Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")

    @model_validator(mode="after")
    def _somewhere(self) -> WhatsAppTemplate:
        if self.twilio_content_sid is None and self.meta_name is None:
            raise ValueError("give twilio_content_sid, meta_name or both")
        return self


class Attestation(StrictModel):
    """The applicant's declaration that the data is correct; `version` is stored with each one."""

    version: NonEmptyStr
    text: LocalizedText


class SupportForm(StrictModel):
    """The support-request form: attestation wording, draft lifetime and the fields in order."""

    attestation: Attestation
    expiry_hours: int = Field(default=72, gt=0)
    fields: list[FormField] = Field(min_length=1)

    def name_answer(self, answers: dict[str, Any]) -> str | None:
        """The applicant's name among the answers (the field marked person_name), if any."""
        for field in self.fields:
            value = answers.get(field.id)
            if getattr(field, "person_name", False) and isinstance(value, str) and value:
                return value
        return None


class Profile(StrictModel):
    """The whole organisation profile, as read from YAML."""

    name: LocalizedText
    short_name: LocalizedText
    default_language: Literal["ar", "en"] = "ar"
    contact: Contact
    timezone: str = "Asia/Riyadh"
    working_hours: WorkingHours
    # Days closed beyond the weekly ones (Eid...): no working time is counted on them.
    holidays: list[HolidayEntry] = Field(default_factory=list)
    privacy_notice_url: Url
    consent: Consent
    faq: list[FaqTopic] = Field(min_length=1)
    support_form: SupportForm
    request_types: list[RequestType] = Field(min_length=1)
    complaint_categories: list[ComplaintCategory] = Field(min_length=1)
    domains: list[Domain] = Field(min_length=1)
    # Where a hand-off goes when no journey names a domain (e.g. "talk to staff" from the menu).
    general_domain: str | None = None
    sla: Sla = Field(default_factory=Sla)
    notifications: Notifications = Field(default_factory=Notifications)
    survey: Survey
    templates: dict[Identifier, WhatsAppTemplate] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use e.g. 'Asia/Riyadh'") from None
        return value

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Profile:
        # load_profile runs these checks itself on the raw data, so that they are reported
        # together with the other errors; this covers profiles built in code.
        if info.context and info.context.get(SKIP_REFERENCE_CHECKS):
            return self
        problems = reference_errors(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def tz(self) -> ZoneInfo:
        """The profile's time zone, in which working hours are read."""
        return ZoneInfo(self.timezone)

    def _local(self, now: datetime) -> datetime:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
        return now.astimezone(self.tz)

    def is_open(self, now: datetime) -> bool:
        """Whether the association is open at `now` (aware; compared in the profile's zone)."""
        local = self._local(now)
        clock = local.time()
        if any(h.covers(local.date()) for h in self.holidays):
            return False
        return any(r.open_time <= clock < r.close_time for r in self.working_hours.for_date(local))

    def next_opening(self, now: datetime) -> datetime | None:
        """The first moment at or after `now` when the association is open, in the profile's zone.

        That is `now` itself while open. It tells a beneficiary writing after hours when a person
        will answer. None when the profile has no working hours at all.
        """
        local = self._local(now)
        if self.is_open(local):
            return local
        for offset in range(40):  # a week, beyond the longest holiday
            day = local + timedelta(days=offset)
            if any(h.covers(day.date()) for h in self.holidays):
                continue
            for period in self.working_hours.for_date(day):
                start = datetime.combine(day.date(), period.open_time, tzinfo=self.tz)
                if start >= local:
                    return start
        return None

    def default_domain(self) -> Domain:
        """The domain of general hand-offs: `general_domain`, or the first domain."""
        return (self.get_domain(self.general_domain) if self.general_domain else None) or (
            self.domains[0]
        )

    def get_domain(self, domain_id: str) -> Domain | None:
        """The domain (and so the contact officer) with this id."""
        return next((d for d in self.domains if d.id == domain_id), None)

    def get_request_type(self, type_id: str) -> RequestType | None:
        """The request type with this id."""
        return next((t for t in self.request_types if t.id == type_id), None)

    def get_complaint_category(self, category_id: str) -> ComplaintCategory | None:
        """The complaint category with this id."""
        return next((c for c in self.complaint_categories if c.id == category_id), None)

    def get_faq_entry(self, entry_id: str) -> FaqEntry | None:
        """The FAQ entry with this id, whatever its topic."""
        entries = (e for topic in self.faq for e in topic.entries)
        return next((e for e in entries if e.id == entry_id), None)

    def get_faq_topic(self, topic_id: str) -> FaqTopic | None:
        """The FAQ topic with this id."""
        return next((t for t in self.faq if t.id == topic_id), None)

    def get_field(self, field_id: str) -> FormField | None:
        """The support-form field with this id."""
        return next((f for f in self.support_form.fields if f.id == field_id), None)

    def options_for(self, field: ChoiceField) -> list[ChoiceOption]:
        """A choice field's options, with `options_from: request_types` resolved."""
        return [ChoiceOption(id=o.id, label=o.label) for o in field.choices(self.request_types)]
