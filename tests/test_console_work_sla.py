"""Deadlines in the inbox are counted in the association's working hours (the example
profile: Sunday to Thursday, 08:00-16:00, Riyadh)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.console.sla import add_working_hours, time_left
from bot.i18n import translator
from bot.profile import Profile

RIYADH = ZoneInfo("Asia/Riyadh")


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        # Inside one working day.
        (datetime(2026, 12, 1, 9, 0), 4, datetime(2026, 12, 1, 13, 0)),
        # Thursday 15:00 + 4 h: one hour on Thursday, three on Sunday.
        (datetime(2026, 12, 3, 15, 0), 4, datetime(2026, 12, 6, 11, 0)),
        # Written on Friday night: the clock starts on Sunday morning.
        (datetime(2026, 12, 4, 22, 0), 4, datetime(2026, 12, 6, 12, 0)),
        # Before opening: from 08:00.
        (datetime(2026, 12, 1, 6, 30), 2, datetime(2026, 12, 1, 10, 0)),
        # Exactly a whole day's hours ends at closing time.
        (datetime(2026, 12, 1, 8, 0), 8, datetime(2026, 12, 1, 16, 0)),
    ],
)
def test_working_hours(profile: Profile, start: datetime, hours: int, due: datetime) -> None:
    assert add_working_hours(profile, start.replace(tzinfo=RIYADH), hours) == due.replace(
        tzinfo=RIYADH
    )


def test_time_left_reads_in_arabic_and_english() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=RIYADH)
    ar, en = translator("ar"), translator("en")
    assert time_left(ar, now + timedelta(hours=3, minutes=20), now) == ("متبقٍّ 3 س 20 د", False)
    assert time_left(en, now - timedelta(days=2, hours=1), now) == ("overdue by 2 d 1 h", True)
