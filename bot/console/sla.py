"""Deadlines in working hours: a hand-off promised "within 4 hours" on Thursday at 15:00 is
due on Sunday at 11:00 when the association works Sunday to Thursday, 08:00-16:00 (the
profile's hours and time zone). Requests and complaints carry their own due dates."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.i18n import N_, Translator
from bot.profile import Profile
from bot.work_calendar import WorkCalendar


def add_working_hours(profile: Profile, start: datetime, hours: float) -> datetime:
    """The moment `hours` of working time after `start` (aware), holidays skipped; the
    calendar itself is bot/work_calendar.py, shared with the handlers and the worker."""
    return WorkCalendar(profile).add_hours(start, hours)


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


PAUSED = N_("Paused: waiting on the beneficiary")
ALERT_LABELS = {
    "remind": N_("reminder sent"),
    "escalate": N_("escalated to the manager"),
    "late_notice": N_("beneficiary told of the delay"),
}


def sla_state(
    t: Translator, due: datetime, now: datetime, *, paused: bool, running: bool, alerts: set[str]
) -> str:
    """The deadline's state as staff read it: paused, on time or overdue, and what the SLA
    watch has sent about it (worker/sla.py)."""
    if not running:
        return ""
    if paused:
        parts = [t.gettext(PAUSED)]
    else:
        parts = [t.gettext(N_("Overdue") if now > due else N_("On time"))]
    parts += [t.gettext(label) for kind, label in ALERT_LABELS.items() if kind in alerts]
    return " · ".join(parts)
