"""A phone number, stored as E.164; Saudi mobiles are read in every form people write them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Literal

import phonenumbers
from pydantic import field_validator

from bot.fields.base import FieldBase, Invalid, Labelled, Valid, clean_typed
from bot.i18n import N_

__all__ = [
    "PHONE_ANY",
    "PHONE_LANDLINE",
    "PHONE_LANDLINE_SAUDI",
    "PHONE_MOBILE",
    "PHONE_SAUDI",
    "PHONE_SAUDI_MOBILE",
    "PhoneField",
    "normalize_saudi_mobile",
]

PHONE_SAUDI_MOBILE = N_("Please send a Saudi mobile number such as 05XXXXXXXX.")
PHONE_SAUDI = N_("Please send a Saudi phone number such as 05XXXXXXXX or 011XXXXXXX.")
PHONE_MOBILE = N_("Please send a valid mobile number.")
PHONE_ANY = N_("Please send a valid phone number.")
PHONE_LANDLINE_SAUDI = N_(
    "This is a landline number. Please send a mobile number such as 05XXXXXXXX."
)
PHONE_LANDLINE = N_("This is a landline number. Please send a mobile number.")

_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_SAUDI_MOBILE = re.compile(r"(?:\+?966)?0?(5[0-9]{8})")


def _clean_phone(text: str) -> str:
    cleaned = re.sub(r"[\s\-().\u00a0/]", "", clean_typed(text))
    return "+" + cleaned[2:] if cleaned.startswith("00") else cleaned


def normalize_saudi_mobile(text: str) -> str | None:
    """E.164 (+9665XXXXXXXX) for a Saudi mobile typed in any usual form, else None.

    Accepts 05XXXXXXXX, 5XXXXXXXX, 9665XXXXXXXX, +966 5X XXX XXXX, 00966..., even +96605...,
    in any digit script; phonenumbers then checks the prefix is a real mobile range.
    """
    match = _SAUDI_MOBILE.fullmatch(_clean_phone(text))
    if not match:
        return None
    e164 = "+966" + match[1]
    number = phonenumbers.parse(e164)
    if not phonenumbers.is_valid_number(number):
        return None
    return e164 if phonenumbers.number_type(number) in _MOBILE_TYPES else None


class PhoneField(FieldBase):
    """A phone number, stored as E.164; national numbers are read in `region`."""

    kind: Literal["phone"]
    region: str = "SA"
    mobile_only: bool = True

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region code {value!r}; use a two-letter code such as 'SA'")
        return value

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The number in E.164, if it is a valid number (a mobile if asked) of the region."""
        saudi = self.region == "SA"
        if saudi and self.mobile_only:
            e164 = normalize_saudi_mobile(text)
            if e164:
                return Valid(e164)
        try:
            number = phonenumbers.parse(_clean_phone(text), self.region)
        except phonenumbers.NumberParseException:
            number = None
        # Numbers must belong to the field's region: staff call them from there.
        if (
            number is None
            or not phonenumbers.is_valid_number(number)
            or phonenumbers.region_code_for_number(number) != self.region
        ):
            if self.mobile_only:
                return Invalid(PHONE_SAUDI_MOBILE if saudi else PHONE_MOBILE)
            return Invalid(PHONE_SAUDI if saudi else PHONE_ANY)
        if self.mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
            return Invalid(PHONE_LANDLINE_SAUDI if saudi else PHONE_LANDLINE)
        return Valid(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
