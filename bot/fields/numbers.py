"""Whole numbers (the family size) and amounts of money (the monthly income), within bounds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from bot.fields.base import FieldBase, Invalid, Labelled, Valid, clean_typed, not_below
from bot.i18n import N_, Translator
from bot.text import parse_int

__all__ = [
    "MONEY_FORMAT",
    "NUMBER_MAX",
    "NUMBER_MIN",
    "NUMBER_RANGE",
    "NUMBER_WHOLE",
    "IntegerField",
    "MoneyField",
    "parse_money",
]

NUMBER_WHOLE = N_("Please write a whole number in digits, for example 5.")
NUMBER_RANGE = N_("Please send a number between {min} and {max}.")
NUMBER_MIN = N_("Please send a number of at least {min}.")
NUMBER_MAX = N_("Please send a number no greater than {max}.")
MONEY_FORMAT = N_("Please write the amount in digits only, for example 3500.")

_ASCII_DIGITS = re.compile(r"[0-9]+")


def _out_of_range(value: int | Decimal, low: Any, high: Any) -> Invalid | None:
    """The out-of-range answer naming the bounds the field has, or None when in range."""
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    if low is not None and high is not None:
        return Invalid(NUMBER_RANGE, {"min": low, "max": high})
    if low is not None:
        return Invalid(NUMBER_MIN, {"min": low})
    return Invalid(NUMBER_MAX, {"max": high})


class IntegerField(FieldBase):
    """A whole number such as the family size; `min`/`max` are inclusive."""

    kind: Literal["integer"]
    min: int | None = None
    max: int | None = None

    @field_validator("max")
    @classmethod
    def _range(cls, value: int | None, info: ValidationInfo) -> int | None:
        return not_below(value, info, "min")

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The number, in any digit script, alone or among words ("5 persons")."""
        value = parse_int(text, signed=True)
        if value is None:
            # "5 persons": one number among words is still clearly that number.
            cleaned = clean_typed(text)
            numbers = _ASCII_DIGITS.findall(cleaned)
            rest = _ASCII_DIGITS.sub("", cleaned)
            if len(numbers) != 1 or not all(ch.isalpha() or ch.isspace() for ch in rest):
                return Invalid(NUMBER_WHOLE)
            value = int(numbers[0])
        return _out_of_range(value, self.min, self.max) or Valid(value)


# Currency words stripped from amounts: "riyal(s)" and "Saudi riyal" in Arabic, the abbreviation
# "r.s", the rial sign (NFKC spells U+FDFC with a Farsi yeh, folded first) and Latin forms.
_CURRENCY_RE = re.compile(
    r"\u0631\u064a\u0627\u0644(?:\u0627\u062a|\u0627)?(?:\s*\u0633\u0639\u0648\u062f\u064a)?"
    r"|\u0631\s*\.?\s*\u0633\.?|(?:saudi\s*)?(?:riyals?|rials?|ryals?)|sar|sr",
)
_TASHKEEL = re.compile("[\u0640\u064b-\u065f\u0670]")  # tatweel and vowel marks ("riyalan")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?")
_AMOUNT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]{1,2})?")


def parse_money(text: str, currency: str = "SAR") -> Decimal | None:
    """An amount such as "3500", "3,500.50" or "3,500 riyal" in any digit script, or None.

    More than two decimals is refused rather than rounded: "3.500" is probably three thousand
    five hundred written with a European separator, and guessing could cost a family its aid.
    """
    text = clean_typed(text).replace("\u06cc", "\u064a").replace("\u0649", "\u064a")
    text = _TASHKEEL.sub("", text).casefold()
    text = _CURRENCY_RE.sub(" ", text.replace(currency.casefold(), " "))
    text = re.sub(r"\s+", "", text).replace("\u060c", ",")
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "")
    if not _AMOUNT.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


class MoneyField(FieldBase):
    """An amount of money such as the monthly income; `min`/`max` are inclusive."""

    kind: Literal["money"]
    min: Decimal | None = None
    max: Decimal | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "SAR"

    @field_validator("max")
    @classmethod
    def _range(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        return not_below(value, info, "min")

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The amount with two decimals, as a string (exact, and JSON-serialisable)."""
        value = parse_money(text, self.currency)
        if value is None:
            return Invalid(MONEY_FORMAT)
        return _out_of_range(value, self.min, self.max) or Valid(
            str(value.quantize(Decimal("0.01")))
        )

    def format_answer(
        self, value: Any, t: Translator, *, request_types: Sequence[Labelled] = ()
    ) -> str:
        """The amount in the beneficiary's digits and language."""
        return t.gettext(N_("{amount} riyals")).format(amount=t.format_number(float(value)))
