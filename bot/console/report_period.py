"""The reports' period, from the page's GET form: `from` and `to` (the association's days,
both included), or a preset of the last 7, 30 or 90 days (`days`); the last 30 days when
nothing is asked. Dates may be typed in any digit script or calendar the beneficiaries'
forms accept (bot/typed_dates.py); a date the picker cannot read is a clear 400."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from bot.i18n import N_
from bot.storage.reports import Period
from bot.text import normalize_digits
from bot.typed_dates import parse_date

PRESETS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 731  # two years: enough for a yearly comparison, and bounded

# Translators: errors of the reports' period picker.
BAD_DATE = N_("Write the dates of the period as year-month-day, for example 2026-12-01.")
BACKWARDS = N_("The period's first day must not come after its last day.")
TOO_LONG = N_("Choose a period of at most two years.")


class BadPeriod(ValueError):
    """The picker's input cannot be read; the message (a msgid) says why."""


@dataclass(frozen=True)
class Chosen:
    """The period as the staff member chose it (local days) and as the queries take it."""

    first: date
    last: date
    days: int | None  # the preset, when one was chosen
    period: Period

    def query(self) -> str:
        """The page's query string for this period, for the CSV links."""
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"


def _day(value: str) -> date:
    text = normalize_digits(value.strip())
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    found = parse_date(text)
    if found is None:
        raise BadPeriod(BAD_DATE)
    return found


def choose_period(query: Any, today: date, tz: Any) -> Chosen:
    """The period asked for in `query` (a request's query mapping); raises BadPeriod."""
    preset = normalize_digits(str(query.get("days", "")).strip())
    first_text, last_text = str(query.get("from", "")), str(query.get("to", ""))
    days: int | None = None
    if preset and not (first_text.strip() or last_text.strip()):
        if not preset.isdigit() or int(preset) not in PRESETS:
            raise BadPeriod(BAD_DATE)
        days = int(preset)
    if days is not None or not (first_text.strip() or last_text.strip()):
        days = days or DEFAULT_DAYS
        first, last = today - timedelta(days=days - 1), today
    else:
        last = _day(last_text) if last_text.strip() else today
        first = _day(first_text) if first_text.strip() else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadPeriod(BACKWARDS)
    if (last - first).days + 1 > MAX_DAYS:
        raise BadPeriod(TOO_LONG)
    # Stored times are UTC (SQLite keeps them as UTC text): the bounds are given in UTC too.
    start = datetime.combine(first, time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return Chosen(first, last, days if days in PRESETS else None, Period(start, end, tz))


def period_or_400(request: web.Request, today: date, tz: Any) -> Chosen | str:
    """The chosen period, or the msgid of what is wrong with the input."""
    try:
        return choose_period(request.query, today, tz)
    except BadPeriod as exc:
        return str(exc)
