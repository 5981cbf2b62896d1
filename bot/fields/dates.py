"""A date typed in the Hijri (Umm al-Qura) or Gregorian calendar, stored as ISO Gregorian."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from pydantic import model_validator

from bot import typed_dates
from bot.fields.base import FieldBase, Invalid, Labelled, Valid
from bot.i18n import N_, Translator

__all__ = [
    "DATE_CALENDARS_MIXED",
    "DATE_EXPIRED",
    "DATE_FORMAT",
    "DATE_FUTURE",
    "DATE_NOT_EXISTING",
    "DATE_TWO_DIGIT_YEAR",
    "DATE_YEAR",
    "DateField",
]

DATE_FORMAT = N_(
    "Please write the date as day/month/year, for example 07/12/1989 or 12/05/1410 (Hijri)."
)
DATE_YEAR = N_(
    "Please check the year: write a Hijri year from {hijri_min} to {hijri_max}"
    " or a Gregorian year from {gregorian_min}, with all four digits."
)
DATE_TWO_DIGIT_YEAR = N_(
    "Please write the year with all four digits, for example 1989, or 1410 in Hijri: two digits"
    " could be a year of either calendar."
)
DATE_CALENDARS_MIXED = N_(
    "The month and the year are from different calendars. Please write the whole date in Hijri"
    " (for example 12 Jumada al-Ula 1410) or in Gregorian (for example 15 March 1990)."
)
DATE_NOT_EXISTING = N_("This date does not exist. Please check the day and the month.")
DATE_FUTURE = N_("The date cannot be in the future.")
DATE_EXPIRED = N_("This document expired on {date}. Please renew it first or send a valid one.")


class DateField(FieldBase):
    """A date typed in Hijri (Umm al-Qura) or Gregorian; e.g. a birth date or an ID expiry date."""

    kind: Literal["date"]
    not_in_future: bool = False
    not_expired: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> DateField:
        if self.not_in_future and self.not_expired:
            raise ValueError("not_in_future and not_expired together would only accept today")
        return self

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The Gregorian date in ISO form; each way of getting it wrong has its own sentence."""
        named = typed_dates.split_named_date(text)
        parts = (named.year, named.month, named.day) if named else typed_dates.split_date(text)
        if parts is None:
            if typed_dates.has_two_digit_year(text):
                return Invalid(DATE_TWO_DIGIT_YEAR)
            return Invalid(DATE_FORMAT)
        year = parts[0]
        gregorian_year = year >= typed_dates.GREGORIAN_MIN_YEAR
        if named and (named.calendar == "gregorian") != gregorian_year:
            return Invalid(DATE_CALENDARS_MIXED)
        if not (
            typed_dates.HIJRI_MIN_YEAR <= year <= typed_dates.HIJRI_MAX_YEAR
            or year >= typed_dates.GREGORIAN_MIN_YEAR
        ):
            # Strings, not ints: render() would group the digits of a year ("1,900").
            return Invalid(
                DATE_YEAR,
                {
                    "hijri_min": str(typed_dates.HIJRI_MIN_YEAR),
                    "hijri_max": str(typed_dates.HIJRI_MAX_YEAR),
                    "gregorian_min": str(typed_dates.GREGORIAN_MIN_YEAR),
                },
            )
        value = typed_dates.to_gregorian(*parts)
        if value is None:
            return Invalid(DATE_NOT_EXISTING)
        if self.not_in_future and value > today:
            return Invalid(DATE_FUTURE)
        if self.not_expired and value < today:
            return Invalid(DATE_EXPIRED, {"date": value})
        return Valid(value.isoformat())

    def format_answer(
        self, value: Any, t: Translator, *, request_types: Sequence[Labelled] = ()
    ) -> str:
        """The date in the beneficiary's language, Hijri and Gregorian."""
        return t.format_date(date.fromisoformat(value))
