"""Validating each answer of the support-request form as the beneficiary types it.

The associations' policies ask staff to make sure the applicant gives complete and valid data,
so every answer is checked the moment it arrives and a mistake is answered with a sentence that
says how to fix it. `validate` returns either `Valid` (the normalised value to store) or
`Invalid` (an English gettext msgid plus its parameters, translated per beneficiary).

Pure functions, no I/O. Arabic characters are escapes on purpose: the project's hook rejects
Arabic literals in code; user-facing Arabic lives in the catalogs.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from bot.i18n import N_, Translator
from bot.profile import (
    ChoiceField,
    CityField,
    DateField,
    FormField,
    IntegerField,
    LocalizedText,
    MediaField,
    MoneyField,
    NationalIdField,
    PhoneField,
    TextField,
)
from bot.text import normalize_digits, normalize_for_matching, parse_int
from handlers import dates
from handlers.dates import parse_date

__all__ = [
    "Invalid",
    "Options",
    "Valid",
    "luhn_valid",
    "normalize_saudi_mobile",
    "parse_date",
    "parse_money",
    "validate",
    "validate_media",
]

Options = list[tuple[str, LocalizedText]]


@dataclass(frozen=True)
class Valid:
    """An accepted answer, normalised and JSON-serialisable, ready to be stored in the draft."""

    value: Any


@dataclass(frozen=True)
class Invalid:
    """A refused answer: `reason` is an English msgid with `{placeholders}` filled from params."""

    reason: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def render(self, t: Translator) -> str:
        """The reason in the beneficiary's language, dates in Hijri and Gregorian."""
        values: dict[str, Any] = {}
        for key, value in self.params.items():
            if isinstance(value, date):
                values[key] = t.format_date(value)
            elif isinstance(value, int | Decimal) and not isinstance(value, bool):
                values[key] = t.format_number(value)
            else:
                values[key] = value
        return t.gettext(self.reason).format(**values)


# -- reasons the beneficiary reads ----------------------------------------------------------
ID_DIGITS_ONLY = N_("Please write the national ID or iqama number in digits only.")
ID_LENGTH = N_("The national ID must be exactly 10 digits; you wrote {count}.")
ID_FIRST_DIGIT = N_("The national ID starts with 1 for citizens or 2 for residents.")
ID_CHECKSUM = N_("This national ID is not valid. Please check the digits and send it again.")
DATE_FORMAT = N_(
    "Please write the date as day/month/year, for example 07/12/1989 or 12/05/1410 (Hijri)."
)
DATE_YEAR = N_(
    "Please check the year: write a Hijri year from {hijri_min} to {hijri_max}"
    " or a Gregorian year from {gregorian_min}, with all four digits."
)
DATE_NOT_EXISTING = N_("This date does not exist. Please check the day and the month.")
DATE_FUTURE = N_("The date cannot be in the future.")
DATE_EXPIRED = N_("This document has expired on {date}. Please renew it first or send a valid one.")
PHONE_SAUDI_MOBILE = N_("Please send a Saudi mobile number such as 05XXXXXXXX.")
PHONE_SAUDI = N_("Please send a Saudi phone number such as 05XXXXXXXX or 011XXXXXXX.")
PHONE_MOBILE = N_("Please send a valid mobile number.")
PHONE_ANY = N_("Please send a valid phone number.")
PHONE_LANDLINE_SAUDI = N_(
    "This is a landline number. Please send a mobile number such as 05XXXXXXXX."
)
PHONE_LANDLINE = N_("This is a landline number. Please send a mobile number.")
NUMBER_WHOLE = N_("Please write a whole number in digits, for example 5.")
NUMBER_RANGE = N_("Please send a number between {min} and {max}.")
NUMBER_MIN = N_("Please send a number of at least {min}.")
NUMBER_MAX = N_("Please send a number no greater than {max}.")
MONEY_FORMAT = N_("Please write the amount in digits only, for example 3500.")
CHOICE_UNKNOWN = N_("Please choose one of the options by its number.")
CHOICE_RANGE = N_("Please choose a number from 1 to {max}.")
TEXT_MIN = N_("Please write at least {min} characters.")
TEXT_MAX = N_("Please write at most {max} characters; your answer has {count}.")
CITY_NAME = N_("Please write the name of the city or town where you live.")
MEDIA_EXPECTED = N_("Please send a photo or a PDF of the document.")
MEDIA_OR_SKIP = N_("Please send a photo or a PDF of the document, or write “skip”.")
MEDIA_TYPE = N_("This type of file cannot be accepted. Please send one of: {types}.")
MEDIA_TOO_MANY = N_("You can send at most {max} files in total; you have already sent {count}.")

_CITY_MAX_LENGTH = 60
_MARK = r"[\s\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
_EDGE_MARKS = re.compile(f"^{_MARK}+|{_MARK}+$")
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _clean(text: str) -> str:
    """Western digits, no invisible bidi/format marks, no surrounding spaces."""
    text = normalize_digits(unicodedata.normalize("NFKC", text))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


# -- national ID / iqama --------------------------------------------------------------------
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


def _national_id(text: str) -> Valid | Invalid:
    digits = re.sub(r"[\s\-_.]", "", _clean(text))
    if digits and not _ASCII_DIGITS.fullmatch(digits):
        return Invalid(ID_DIGITS_ONLY)
    if len(digits) != 10:
        return Invalid(ID_LENGTH, {"count": len(digits)})
    if digits[0] not in "12":
        return Invalid(ID_FIRST_DIGIT)
    if not luhn_valid(digits):
        return Invalid(ID_CHECKSUM)
    return Valid(digits)


# -- phone ----------------------------------------------------------------------------------
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_SAUDI_MOBILE = re.compile(r"(?:\+?966)?0?(5[0-9]{8})")


def _clean_phone(text: str) -> str:
    cleaned = re.sub(r"[\s\-().\u00a0/]", "", _clean(text))
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


def _phone(spec: PhoneField, text: str) -> Valid | Invalid:
    saudi = spec.region == "SA"
    if saudi and spec.mobile_only:
        e164 = normalize_saudi_mobile(text)
        if e164:
            return Valid(e164)
    try:
        number = phonenumbers.parse(_clean_phone(text), spec.region)
    except phonenumbers.NumberParseException:
        number = None
    # Numbers must belong to the field's region: staff call them from there.
    if (
        number is None
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.region_code_for_number(number) != spec.region
    ):
        if spec.mobile_only:
            return Invalid(PHONE_SAUDI_MOBILE if saudi else PHONE_MOBILE)
        return Invalid(PHONE_SAUDI if saudi else PHONE_ANY)
    if spec.mobile_only and phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return Invalid(PHONE_LANDLINE_SAUDI if saudi else PHONE_LANDLINE)
    return Valid(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# -- dates ----------------------------------------------------------------------------------
def _date(spec: DateField, text: str, today: date) -> Valid | Invalid:
    parts = dates.split_date(text)
    if parts is None:
        return Invalid(DATE_FORMAT)
    year = parts[0]
    if not (
        dates.HIJRI_MIN_YEAR <= year <= dates.HIJRI_MAX_YEAR or year >= dates.GREGORIAN_MIN_YEAR
    ):
        # Strings, not ints: render() would group the digits of a year ("1,900").
        return Invalid(
            DATE_YEAR,
            {
                "hijri_min": str(dates.HIJRI_MIN_YEAR),
                "hijri_max": str(dates.HIJRI_MAX_YEAR),
                "gregorian_min": str(dates.GREGORIAN_MIN_YEAR),
            },
        )
    value = dates.to_gregorian(*parts)
    if value is None:
        return Invalid(DATE_NOT_EXISTING)
    if spec.not_in_future and value > today:
        return Invalid(DATE_FUTURE)
    if spec.not_expired and value < today:
        return Invalid(DATE_EXPIRED, {"date": value})
    return Valid(value.isoformat())


# -- numbers --------------------------------------------------------------------------------
def _range(value: int | Decimal, low: Any, high: Any) -> Invalid | None:
    """The out-of-range answer naming the bounds the field has, or None when in range."""
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    if low is not None and high is not None:
        return Invalid(NUMBER_RANGE, {"min": low, "max": high})
    if low is not None:
        return Invalid(NUMBER_MIN, {"min": low})
    return Invalid(NUMBER_MAX, {"max": high})


def _integer(spec: IntegerField, text: str) -> Valid | Invalid:
    value = parse_int(text, signed=True)
    if value is None:
        # "5 persons": one number among words is still clearly that number.
        cleaned = _clean(text)
        numbers = _ASCII_DIGITS.findall(cleaned)
        rest = _ASCII_DIGITS.sub("", cleaned)
        if len(numbers) != 1 or not all(ch.isalpha() or ch.isspace() for ch in rest):
            return Invalid(NUMBER_WHOLE)
        value = int(numbers[0])
    return _range(value, spec.min, spec.max) or Valid(value)


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
    text = _clean(text).replace("\u06cc", "\u064a").replace("\u0649", "\u064a")
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


def _money(spec: MoneyField, text: str) -> Valid | Invalid:
    value = parse_money(text, spec.currency)
    if value is None:
        return Invalid(MONEY_FORMAT)
    return _range(value, spec.min, spec.max) or Valid(str(value.quantize(Decimal("0.01"))))


# -- choices and text -----------------------------------------------------------------------
def _choice(text: str, options: Options) -> Valid | Invalid:
    """By number (any digit script), id, or label in either language; then a unique part."""
    number = parse_int(text)
    if number is not None:
        if 1 <= number <= len(options):
            return Valid(options[number - 1][0])
        return Invalid(CHOICE_RANGE, {"max": len(options)})
    key = normalize_for_matching(text)
    if not key:
        return Invalid(CHOICE_UNKNOWN)
    names = [
        (option_id, {normalize_for_matching(n) for n in (option_id, label.ar, label.en)})
        for option_id, label in options
    ]
    for option_id, keys in names:
        if key in keys:
            return Valid(option_id)
    # A line copied from the numbered list: "2. Financial aid".
    numbered = re.fullmatch(r"([0-9]+) (.+)", key)
    if numbered and 1 <= int(numbered[1]) <= len(options):
        option_id, keys = names[int(numbered[1]) - 1]
        if numbered[2] in keys:
            return Valid(option_id)
    # Part of one label only ("rent" for "Help with rent"); ambiguous parts are refused.
    if len(key) >= 3:
        hits = [option_id for option_id, keys in names if any(key in k for k in keys)]
        if len(hits) == 1:
            return Valid(hits[0])
    return Invalid(CHOICE_UNKNOWN)


def _text(text: str, min_length: int, max_length: int) -> Valid | Invalid:
    # Phones put invisible bidi marks around text; they must not count as characters.
    value = _EDGE_MARKS.sub("", text)
    if len(value) < min_length:
        return Invalid(TEXT_MIN, {"min": min_length})
    if len(value) > max_length:
        return Invalid(TEXT_MAX, {"max": max_length, "count": len(value)})
    return Valid(value)


def _city(text: str) -> Valid | Invalid:
    result = _text(" ".join(text.split()), 2, _CITY_MAX_LENGTH)
    if isinstance(result, Valid) and not any(ch.isalpha() for ch in result.value):
        return Invalid(CITY_NAME)
    if isinstance(result, Invalid) and result.reason == TEXT_MIN:
        return Invalid(CITY_NAME)
    return result


def _own_options(spec: ChoiceField | CityField) -> Options | None:
    return [(o.id, o.label) for o in spec.options] if spec.options else None


def validate(
    field: FormField, text: str, *, today: date, options: Options | None = None
) -> Valid | Invalid:
    """Check one typed answer against its form field; `today` is the association's local date.

    `options` are (id, label) pairs for choice fields whose options come from elsewhere (the
    profile's request types); without them a field's own `options` are used.
    """
    if isinstance(field, TextField):
        return _text(text, field.min_length, field.max_length)
    if isinstance(field, NationalIdField):
        return _national_id(text)
    if isinstance(field, DateField):
        return _date(field, text, today)
    if isinstance(field, PhoneField):
        return _phone(field, text)
    if isinstance(field, IntegerField):
        return _integer(field, text)
    if isinstance(field, MoneyField):
        return _money(field, text)
    if isinstance(field, ChoiceField):
        choices = options if options is not None else _own_options(field)
        if not choices:
            raise ValueError(f"choice field {field.id!r} needs its options passed in")
        return _choice(text, choices)
    if isinstance(field, CityField):
        choices = options if options is not None else _own_options(field)
        return _choice(text, choices) if choices else _city(text)
    if isinstance(field, MediaField):
        return Invalid(MEDIA_OR_SKIP if not field.required else MEDIA_EXPECTED)
    raise TypeError(f"unknown form field {field!r}")


# -- media ----------------------------------------------------------------------------------
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def _base_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return _TYPE_ALIASES.get(base, base)


def _type_allowed(content_type: str, allowed: list[str]) -> bool:
    base = _base_type(content_type)
    return any(base == a or (a.endswith("/*") and base.startswith(a[:-1])) for a in allowed)


def _type_names(allowed: list[str]) -> str:
    """'JPEG, PNG, PDF': short names a beneficiary recognises, not MIME types."""
    names: list[str] = []
    for content_type in allowed:
        main, _, sub = content_type.partition("/")
        name = (main if sub == "*" else sub).upper()
        if name not in names:
            names.append(name)
    return ", ".join(names)


def validate_media(
    field: MediaField, content_types: list[str], count_so_far: int
) -> Valid | Invalid:
    """Check the attachments of one message; Valid holds the new total number of files."""
    if not content_types:
        return Invalid(MEDIA_OR_SKIP if not field.required else MEDIA_EXPECTED)
    if not all(_type_allowed(ct, field.content_types) for ct in content_types):
        return Invalid(MEDIA_TYPE, {"types": _type_names(field.content_types)})
    total = count_so_far + len(content_types)
    if total > field.max_files:
        return Invalid(MEDIA_TOO_MANY, {"max": field.max_files, "count": count_so_far})
    return Valid(total)
