"""Working time on the example profile's calendar (Sunday to Thursday, 08:00-16:00, Riyadh,
its holidays): the deadlines the association promises, table by table, and the profile's
SLA, holidays and notifications validated with clear errors."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.profile import Profile
from bot.work_calendar import (
    WorkCalendar,
    complaint_resolution_due,
    complaint_response_due,
    handoff_response_due,
    request_decision_due,
)
from tests.test_profile import errors_of, example_data, write

RIYADH = ZoneInfo("Asia/Riyadh")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=RIYADH)  # type: ignore[misc]


def with_holidays(profile: Profile, *holidays: Any) -> Profile:
    data = profile.model_dump(by_alias=True)
    data["holidays"] = list(holidays)
    return Profile.model_validate(data)


# 2026-12-03 is a Thursday, 2026-12-04/05 the weekend, 2026-12-06 a Sunday.
@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (at(2026, 12, 1, 9), 4, at(2026, 12, 1, 13)),  # inside one day
        (at(2026, 12, 3, 15), 4, at(2026, 12, 6, 11)),  # over the weekend
        (at(2026, 12, 4, 22), 4, at(2026, 12, 6, 12)),  # written on Friday night
        (at(2026, 12, 1, 6, 30), 2, at(2026, 12, 1, 10)),  # before opening
        (at(2026, 12, 1, 8), 8, at(2026, 12, 1, 16)),  # a whole day ends at closing
        (at(2026, 12, 1, 17), 1, at(2026, 12, 2, 9)),  # after closing: next morning
        (at(2026, 12, 1, 9), 24, at(2026, 12, 6, 9)),  # three working days, weekend skipped
    ],
)
def test_working_hours(profile: Profile, start: datetime, hours: int, due: datetime) -> None:
    assert WorkCalendar(profile).add_hours(start, hours) == due


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (at(2026, 12, 6, 10), 1, at(2026, 12, 7, 16)),  # Sunday + 1: Monday at closing
        (at(2026, 12, 3, 10), 1, at(2026, 12, 6, 16)),  # Thursday + 1: Sunday
        (at(2026, 12, 5, 10), 1, at(2026, 12, 6, 16)),  # filed on Saturday
        (at(2026, 12, 6, 10), 5, at(2026, 12, 13, 16)),  # a working week: Sunday to Sunday
        (at(2026, 12, 6, 10), 14, at(2026, 12, 24, 16)),  # the committee's 14 days
    ],
)
def test_working_days(profile: Profile, start: datetime, days: int, due: datetime) -> None:
    assert WorkCalendar(profile).add_days(start, days) == due


def test_holidays_take_no_working_time(profile: Profile) -> None:
    # Eid from Sunday 6 to Tuesday 8 December, and Thursday 10 alone.
    eid = with_holidays(profile, {"from": "2026-12-06", "to": "2026-12-08"}, "2026-12-10")
    calendar = WorkCalendar(eid)
    assert [calendar.is_working_day(date(2026, 12, d)) for d in range(3, 12)] == [
        True, False, False, False, False, False, True, False, False,
    ]  # fmt: skip
    # Thursday 3rd 15:00 + 4 h: one hour, then the weekend and Eid, then Wednesday 9th.
    assert calendar.add_hours(at(2026, 12, 3, 15), 4) == at(2026, 12, 9, 11)
    # Two working days from Thursday: Wednesday 9th, then Sunday 13th (10th is a holiday).
    assert calendar.add_days(at(2026, 12, 3, 10), 2) == at(2026, 12, 13, 16)
    assert not eid.is_open(at(2026, 12, 7, 10))
    assert eid.next_opening(at(2026, 12, 5, 10)) == at(2026, 12, 9, 8)
    assert calendar.between(at(2026, 12, 3, 8), at(2026, 12, 13, 8)) == timedelta(hours=16)


@pytest.mark.parametrize(
    ("paused", "resumed", "due", "moved"),
    [
        # Waited two working hours on Tuesday: the deadline moves two working hours.
        (at(2026, 12, 1, 10), at(2026, 12, 1, 12), at(2026, 12, 3, 15), at(2026, 12, 6, 9)),
        # Waited over the weekend only: no working time passed, nothing moves.
        (at(2026, 12, 3, 16), at(2026, 12, 6, 8), at(2026, 12, 10, 16), at(2026, 12, 10, 16)),
        # Waited a whole working day (Sunday 8:00 to Monday 8:00): one day later.
        (at(2026, 12, 6, 8), at(2026, 12, 7, 8), at(2026, 12, 8, 16), at(2026, 12, 9, 16)),
    ],
)
def test_a_pause_moves_the_deadline_by_the_working_time_waited(
    profile: Profile, paused: datetime, resumed: datetime, due: datetime, moved: datetime
) -> None:
    assert WorkCalendar(profile).resumed_due(due, paused, resumed) == moved


def test_the_profile_deadlines(profile: Profile) -> None:
    sunday = at(2026, 12, 6, 10)
    assert request_decision_due(profile, sunday) == at(2026, 12, 24, 16)
    # An ordinary complaint: five working days; privacy violations are urgent (24 clock
    # hours, a weekend does not wait) and resolved within their own three working days.
    assert complaint_response_due(profile, "aid_delay", sunday) == at(2026, 12, 13, 16)
    thursday = at(2026, 12, 3, 15)
    assert complaint_response_due(profile, "privacy_violation", thursday) == at(2026, 12, 4, 15)
    assert complaint_resolution_due(profile, "privacy_violation", sunday) == at(2026, 12, 9, 16)
    assert complaint_resolution_due(profile, "aid_delay", sunday) == at(2026, 12, 20, 16)
    assert handoff_response_due(profile, thursday) == at(2026, 12, 6, 11)


def test_the_example_profile_says_its_calendar(profile: Profile) -> None:
    assert profile.sla.request_decision_days == 14
    assert profile.sla.reminders.request_hours == 48
    assert profile.holidays and all(h.name for h in profile.holidays)
    assert profile.notifications.email and profile.notifications.digest_seconds == 60
    research = profile.get_domain("social_research")
    assert research is not None and research.manager is not None


def test_sla_calendar_and_notification_mistakes_are_reported(tmp_path: Path) -> None:
    data = example_data()
    data["holidays"] = [{"from": "2026-03-24", "to": "2026-03-19"}, "not a date"]
    data["sla"]["complaint_categories"] = {
        "no_such_category": {"resolution_days": 3},
        "aid_delay": {"response_hours": 4, "response_days": 1},
    }
    data["sla"]["reminders"] = {"request_hours": -1}
    data["notifications"] = {"telegram_chat_id": "@staff", "digest_seconds": 7200}
    errors = errors_of(write(tmp_path, data))
    expected = [
        "holidays[0]: 'to' (2026-03-19) is before 'from' (2026-03-24)",
        "holidays[1].from: Input should be a valid date",
        "sla.complaint_categories.aid_delay: give response_hours or response_days, not both",
        "sla.reminders.request_hours: Input should be greater than or equal to 0",
        "notifications.telegram_chat_id: must be the staff chat's numeric id",
        "notifications.digest_seconds: Input should be less than or equal to 3600",
        "sla.complaint_categories.no_such_category: unknown complaint category",
    ]
    for start in expected:
        assert any(error.startswith(start) for error in errors), (start, errors)
