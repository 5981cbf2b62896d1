"""The Saudi national ID or iqama number: ten digits ending with a check digit."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Literal

from bot.fields.base import FieldBase, Invalid, Labelled, Valid, clean_typed
from bot.i18n import N_

__all__ = [
    "ID_CHECKSUM",
    "ID_DIGITS_ONLY",
    "ID_FIRST_DIGIT",
    "ID_LENGTH",
    "NationalIdField",
    "luhn_valid",
]

ID_DIGITS_ONLY = N_("Please write the national ID or iqama number in digits only.")
ID_LENGTH = N_("The national ID must be exactly 10 digits; you wrote {count}.")
ID_FIRST_DIGIT = N_("The national ID starts with 1 for citizens or 2 for residents.")
ID_CHECKSUM = N_("This national ID is not valid. Please check the digits and send it again.")

_ASCII_DIGITS = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    """Standard Luhn check over all the digits; Saudi IDs and iqamas end with a Luhn digit."""
    if not _ASCII_DIGITS.fullmatch(digits):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


class NationalIdField(FieldBase):
    """Saudi national ID (starts with 1) or iqama (starts with 2): 10 digits with a check digit."""

    kind: Literal["national_id"]

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The ten digits (spaces and dashes dropped, any digit script), checksum verified."""
        digits = re.sub(r"[\s\-_.]", "", clean_typed(text))
        if digits and not _ASCII_DIGITS.fullmatch(digits):
            return Invalid(ID_DIGITS_ONLY)
        if len(digits) != 10:
            return Invalid(ID_LENGTH, {"count": len(digits)})
        if digits[0] not in "12":
            return Invalid(ID_FIRST_DIGIT)
        if not luhn_valid(digits):
            return Invalid(ID_CHECKSUM)
        return Valid(digits)
