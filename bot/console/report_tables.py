"""What a report section is made of, and the labels its figures share.

A `Table` holds raw cells (numbers, dates, labels already in the staff member's language):
the page formats them for reading, and the CSV export (bot/console/reports_pages.py) writes
the same cells for a spreadsheet, so both show the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.i18n import N_, Translator
from handlers.privacy import CHANNEL_NAMES

from .charts import Chart

Cell = str | int | float | date | datetime | None

# Translators: a channel in the reports; Twilio carries both SMS and WhatsApp.
TWILIO = N_("SMS or WhatsApp (Twilio)")
# Translators: yes and no in a report's table (a complaint's urgency).
YES, NO = N_("Yes"), N_("No")
# Translators: a share in the reports, e.g. "80%".
PERCENT = N_("{n}%")
# Translators: how a case stands against its deadline, in the reports.
ON_TIME = N_("On time")
LATE = N_("Late")
OPEN_IN_TIME = N_("Open, within its deadline")
OPEN_LATE = N_("Open, past its deadline")


@dataclass(frozen=True)
class Table:
    """A report's table: `name` is its CSV file's (/console/reports/<name>.csv)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[Cell]]
    per_case: bool = False


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    charts: list[Chart]
    tables: list[Table]
    notes: list[str] = field(default_factory=list)


def channel_label(t: Translator, channel: str | None) -> str:
    if channel == "twilio":
        return t.gettext(TWILIO)
    name = CHANNEL_NAMES.get(channel or "")
    return t.gettext(name) if name else (channel or "")


def percent(t: Translator, share: float) -> str:
    return t.gettext(PERCENT).format(n=t.format_number(round(share * 100)))


def one_decimal(t: Translator, value: float) -> str:
    return t.format_number(round(value, 1))


def against_deadline(t: Translator, done_at: Any, due: datetime, now: datetime) -> str:
    """On time / late for a case done; for one still open, whether its deadline passed."""
    if done_at is not None:
        return t.gettext(ON_TIME if done_at <= due else LATE)
    return t.gettext(OPEN_LATE if now > due else OPEN_IN_TIME)


def days_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 86400


def hours_between(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else (end - start).total_seconds() / 3600


def average(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
