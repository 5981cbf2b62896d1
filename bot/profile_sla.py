"""The profile's promises in time (issue 15): deadlines, the holidays of the working
calendar, when staff are reminded, and where staff notifications go.

Kept apart from bot/profile.py (the rest of the schema) so each stays readable; the
deadlines are counted in working time by bot/work_calendar.py.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from bot.profile_types import Identifier, NonEmptyStr, StrictModel

__all__ = ["CategorySla", "Holiday", "HolidayEntry", "Notifications", "Reminders", "Sla"]

_CHAT_ID_RE = re.compile(r"^-?\d{5,}$")


def _one_day(value: Any) -> Any:
    # `- 2026-09-23` (one day) is short for `- {from: 2026-09-23}`.
    if isinstance(value, date | str):
        return {"from": value}
    return value


class Holiday(StrictModel):
    """A closed day or range of days (Eid, the national day): no working time is counted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    first: date = Field(alias="from")
    last: date | None = Field(default=None, alias="to")
    name: NonEmptyStr | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Holiday:
        if self.last is not None and self.last < self.first:
            raise ValueError(f"'to' ({self.last}) is before 'from' ({self.first})")
        return self

    def covers(self, day: date) -> bool:
        """Whether `day` is one of the holiday's days."""
        return self.first <= day <= (self.last or self.first)


HolidayEntry = Annotated[Holiday, BeforeValidator(_one_day)]


class CategorySla(StrictModel):
    """A complaint category's own deadlines, in place of the general ones."""

    response_hours: int | None = Field(default=None, gt=0)
    response_days: int | None = Field(default=None, gt=0)
    resolution_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_unit(self) -> CategorySla:
        if self.response_hours is not None and self.response_days is not None:
            raise ValueError("give response_hours or response_days, not both")
        return self


class Reminders(StrictModel):
    """How long before a deadline the responsible staff member is reminded (clock hours)."""

    request_hours: float = Field(default=48, ge=0)
    complaint_hours: float = Field(default=24, ge=0)
    handoff_hours: float = Field(default=1, ge=0)


class Sla(StrictModel):
    """Promised times. Days and hours are working time (the profile's week, hours and
    holidays); an urgent complaint's hours are clock hours unless `urgent_in_working_time`.
    The research committee answers within about two weeks (14 working days)."""

    request_decision_days: int = Field(default=14, gt=0)
    complaint_response_days: int = Field(default=5, gt=0)
    complaint_resolution_days: int = Field(default=10, gt=0)
    handoff_response_hours: int = Field(default=4, gt=0)
    urgent_complaint_hours: int = Field(default=24, gt=0)
    urgent_in_working_time: bool = False
    # Per complaint category id: its own response / resolution deadline.
    complaint_categories: dict[Identifier, CategorySla] = Field(default_factory=dict)
    reminders: Reminders = Field(default_factory=Reminders)
    # A beneficiary whose decision is late is told to expect it this many working days on.
    late_notice_extension_days: int = Field(default=5, gt=0)


def _chat_id(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and not _CHAT_ID_RE.match(value.strip()):
        raise ValueError(
            f'must be the staff chat\'s numeric id, e.g. "-1001234567890" (got {value!r})'
        )
    return value


class Notifications(StrictModel):
    """Where staff hear of new work: the domain officer's email and/or one staff Telegram
    chat; notifications for one recipient within `digest_seconds` go as one digest."""

    email: bool = True
    telegram_chat_id: Annotated[str | None, BeforeValidator(_chat_id)] = None
    digest_seconds: int = Field(default=60, ge=0, le=3600)
