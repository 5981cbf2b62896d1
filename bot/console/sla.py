"""Deadlines in working hours: a hand-off promised "within 4 hours" on Thursday at 15:00 is
due on Sunday at 11:00 when the association works Sunday to Thursday, 08:00-16:00 (the
profile's hours and time zone). Requests and complaints carry their own due dates."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.i18n import N_, Translator
from bot.profile import Profile

SEARCH_DAYS = 370  # a profile with no working hours at all falls back to wall-clock time


def add_working_hours(profile: Profile, start: datetime, hours: float) -> datetime:
    """The moment `hours` of working time after `start` (aware)."""
    left = timedelta(hours=hours)
    local = start.astimezone(profile.tz)
    for offset in range(SEARCH_DAYS):
        day = (local + timedelta(days=offset)).date()
        for period in profile.working_hours.for_date(day):
            opens = datetime.combine(day, period.open_time, tzinfo=profile.tz)
            closes = datetime.combine(day, period.close_time, tzinfo=profile.tz)
            begin = max(opens, local)
            if begin >= closes:
                continue
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
    return start + timedelta(hours=hours)


def time_left(t: Translator, due: datetime, now: datetime) -> tuple[str, bool]:
    """("3 h 20 min left" | "overdue by 2 h", overdue) in the staff member's language."""
    delta = due - now
    overdue = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        span = t.gettext(N_("{days} d {hours} h")).format(
            days=t.format_number(days), hours=t.format_number(hours)
        )
    else:
        span = t.gettext(N_("{hours} h {minutes} min")).format(
            hours=t.format_number(hours), minutes=t.format_number(minutes)
        )
    if overdue:
        return t.gettext(N_("overdue by {span}")).format(span=span), True
    return t.gettext(N_("{span} left")).format(span=span), False
