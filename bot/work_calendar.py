"""Working time from the profile's calendar: the week's opening hours (Sunday to Thursday in
Saudi Arabia, Friday and Saturday off), in the profile's time zone, less its holidays.

Every deadline the association promises is counted here, in one place: a hand-off "within
4 hours" opened on Thursday at 15:00 is due on Sunday at 11:00 (08:00-16:00); a decision
"within 14 working days" is due at the close of the 14th working day; time a request spends
waiting on the beneficiary moves its deadline by the working time it waited. The handlers
(due dates), the console (pauses, what is shown) and the worker (reminders) all use it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.profile import Profile

SEARCH_DAYS = 800  # a calendar with no working time at all falls back to clock time


class WorkCalendar:
    """The profile's working calendar; every datetime in and out is timezone-aware, and
    every moment it returns is in UTC (SQLite keeps no offset: the tables store UTC)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.tz = profile.tz

    def is_holiday(self, day: date) -> bool:
        """Whether `day` is one of the profile's holidays."""
        return any(h.covers(day) for h in self.profile.holidays)

    def periods(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working periods of `day` (none on weekends and holidays), local time."""
        if self.is_holiday(day):
            return []
        return [
            (
                datetime.combine(day, p.open_time, tzinfo=self.tz),
                datetime.combine(day, p.close_time, tzinfo=self.tz),
            )
            for p in self.profile.working_hours.for_date(day)
        ]

    def is_working_day(self, day: date) -> bool:
        return bool(self.periods(day))

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` falls in working time."""
        local = moment.astimezone(self.tz)
        return any(a <= local < b for a, b in self.periods(local.date()))

    def next_opening(self, moment: datetime) -> datetime | None:
        """`moment` itself in working time, else the next opening; None with no working time."""
        local = moment.astimezone(self.tz)
        for offset in range(SEARCH_DAYS):
            for opens, closes in self.periods(local.date() + timedelta(days=offset)):
                if closes > local:
                    return max(opens, local).astimezone(UTC)
        return None

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The moment `amount` of working time after `start`."""
        return self._add(start, amount).astimezone(UTC)

    def _add(self, start: datetime, amount: timedelta) -> datetime:
        left = amount
        local = start.astimezone(self.tz)
        if left <= timedelta(0):
            return local
        for offset in range(SEARCH_DAYS):
            for opens, closes in self.periods(local.date() + timedelta(days=offset)):
                begin = max(opens, local)
                if begin >= closes:
                    continue
                if begin + left <= closes:
                    return begin + left
                left -= closes - begin
        return local + left

    def add_hours(self, start: datetime, hours: float) -> datetime:
        return self.add(start, timedelta(hours=hours))

    def add_days(self, start: datetime, days: int) -> datetime:
        """The close of the `days`-th working day after `start`'s day (the day it starts
        does not count: a request filed on Sunday, 2 days, is due Tuesday at closing)."""
        return self._add_days(start, days).astimezone(UTC)

    def _add_days(self, start: datetime, days: int) -> datetime:
        local = start.astimezone(self.tz)
        day, counted = local.date(), 0
        for _ in range(SEARCH_DAYS):
            day += timedelta(days=1)
            periods = self.periods(day)
            if periods:
                counted += 1
                if counted == days:
                    return periods[-1][1]
        return local + timedelta(days=days)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time from `start` to `end` (zero when `end` is not after `start`)."""
        if end <= start:
            return timedelta(0)
        local, until = start.astimezone(self.tz), end.astimezone(self.tz)
        total = timedelta(0)
        day = local.date()
        while day <= until.date():
            for opens, closes in self.periods(day):
                begin, finish = max(opens, local), min(closes, until)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def resumed_due(self, due: datetime, paused_at: datetime, resumed_at: datetime) -> datetime:
        """A deadline moved by the working time its case waited on the beneficiary."""
        return self.add(due, self.between(paused_at, resumed_at))


# -- the profile's deadlines, counted on its calendar -------------------------------------------
def request_decision_due(profile: Profile, submitted_at: datetime) -> datetime:
    """When the research committee's decision on a request filed at `submitted_at` is due."""
    return WorkCalendar(profile).add_days(submitted_at, profile.sla.request_decision_days)


def complaint_response_due(profile: Profile, category_id: str, created_at: datetime) -> datetime:
    """When the first response to a complaint of this category is due: the category's own
    deadline, else the urgent hours (clock time unless `urgent_in_working_time`), else the
    general working days."""
    sla, calendar = profile.sla, WorkCalendar(profile)
    own = sla.complaint_categories.get(category_id)
    if own is not None and own.response_hours is not None:
        return calendar.add_hours(created_at, own.response_hours)
    if own is not None and own.response_days is not None:
        return calendar.add_days(created_at, own.response_days)
    category = profile.get_complaint_category(category_id)
    if category is not None and category.urgent:
        if sla.urgent_in_working_time:
            return calendar.add_hours(created_at, sla.urgent_complaint_hours)
        return (created_at + timedelta(hours=sla.urgent_complaint_hours)).astimezone(UTC)
    return calendar.add_days(created_at, sla.complaint_response_days)


def complaint_resolution_due(profile: Profile, category_id: str, created_at: datetime) -> datetime:
    """When a complaint of this category should be resolved (closed)."""
    own = profile.sla.complaint_categories.get(category_id)
    days = (own.resolution_days if own else None) or profile.sla.complaint_resolution_days
    return WorkCalendar(profile).add_days(created_at, days)


def handoff_response_due(profile: Profile, opened_at: datetime) -> datetime:
    """When staff should have first answered a hand-off opened at `opened_at`."""
    return WorkCalendar(profile).add_hours(opened_at, profile.sla.handoff_response_hours)
