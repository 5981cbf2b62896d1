"""Validators of the support-request form: what beneficiaries really type, and what they read back.

Fields come from `profiles/example.yaml` wherever possible, so a change to the real form that the
validators do not follow breaks these tests; small constructed fields cover the other options.
"""

from __future__ import annotations

import random
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel.messages.extract import extract_from_file

from bot.fields import (
    ChoiceField,
    CityField,
    DateField,
    FormField,
    IntegerField,
    Invalid,
    MediaField,
    MoneyField,
    PhoneField,
    Valid,
    choice,
    dates,
    media,
    national_id,
    numbers,
    phone,
)
from bot.fields import text as free_text
from bot.fields.names import NAME_DIGITS, NAME_NOT_A_NAME
from bot.fields.national_id import luhn_valid
from bot.fields.phone import normalize_saudi_mobile
from bot.i18n import translator
from bot.profile import Profile
from bot.profile_types import ChoiceOption, LocalizedText
from bot.typed_dates import parse_date

ROOT = Path(__file__).resolve().parent.parent
# The modules of the field kinds, each holding the reasons (msgids) its answers are refused with.
KIND_MODULES = (free_text, national_id, dates, phone, numbers, choice, media)


def module_reasons() -> dict[str, str]:
    return {
        name: value
        for module in KIND_MODULES
        for name, value in vars(module).items()
        if re.fullmatch(r"[A-Z][A-Z_]+", name) and isinstance(value, str)
    }


# The reasons by name, e.g. R.ID_CHECKSUM.
R = SimpleNamespace(**module_reasons())

TODAY = date(2025, 6, 1)
LABEL = LocalizedText(ar="حقل", en="Field")


def form_field(profile: Profile, field_id: str) -> FormField:
    return next(f for f in profile.support_form.fields if f.id == field_id)


def check(field: FormField, text: str, expected: Any, **kwargs: Any) -> None:
    """`expected` is the stored value, or an Invalid (reason and params must match exactly)."""
    result = field.validate_answer(text, today=TODAY, **kwargs)
    if isinstance(expected, Invalid):
        assert result == expected, text
    else:
        assert result == Valid(expected), text


# -- national ID / iqama ---------------------------------------------------------------------
def saudi_check_digit_ok(number: str) -> bool:
    """The algorithm as Saudi sources publish it (odd positions doubled), written separately."""
    total = 0
    for i, char in enumerate(number):
        n = int(char)
        if i % 2 == 0:
            doubled = n * 2
            total += doubled // 10 + doubled % 10
        else:
            total += n
    return total % 10 == 0


def make_id(first: str, rng: random.Random) -> str:
    body = first + "".join(rng.choice("0123456789") for _ in range(8))
    return next(body + d for d in "0123456789" if saudi_check_digit_ok(body + d))


def to_arabic_indic(digits: str) -> str:
    return digits.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))


def test_luhn_is_the_standard_algorithm() -> None:
    assert luhn_valid("79927398713")  # the textbook Luhn example
    assert not luhn_valid("79927398710")
    assert luhn_valid("1000000008") and luhn_valid("2000000006")
    assert not luhn_valid("") and not luhn_valid("12345a")


def test_generated_ids_are_valid_and_one_wrong_digit_is_caught(profile: Profile) -> None:
    rng = random.Random(2025)
    field = form_field(profile, "national_id")
    for _ in range(300):
        number = make_id(rng.choice("12"), rng)
        assert luhn_valid(number)
        assert field.validate_answer(number, today=TODAY) == Valid(number)
        position = rng.randrange(10)
        wrong = str((int(number[position]) + rng.randrange(1, 10)) % 10)
        typo = number[:position] + wrong + number[position + 1 :]
        if typo[0] in "12":
            assert field.validate_answer(typo, today=TODAY) == Invalid(R.ID_CHECKSUM)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000000008", "1000000008"),
        ("2000000006", "2000000006"),
        ("١٠٠٠٠٠٠٠٠٨", "1000000008"),
        ("۲۰۰۰۰۰۰۰۰۶", "2000000006"),
        (" 1000 000 008 ", "1000000008"),
        ("\u200f1000000008\u200f", "1000000008"),
        ("1000000007", Invalid(R.ID_CHECKSUM)),
        ("100000000", Invalid(R.ID_LENGTH, {"count": 9})),
        ("10000000081", Invalid(R.ID_LENGTH, {"count": 11})),
        ("", Invalid(R.ID_LENGTH, {"count": 0})),
        ("3000000004", Invalid(R.ID_FIRST_DIGIT)),
        ("1OOOOOOOO8", Invalid(R.ID_DIGITS_ONLY)),
    ],
)
def test_national_id(profile: Profile, text: str, expected: Any) -> None:
    assert luhn_valid("3000000004")  # so the first-digit rule, not the checksum, refuses it
    check(form_field(profile, "national_id"), text, expected)


def test_arabic_indic_generated_id(profile: Profile) -> None:
    number = make_id("1", random.Random(7))
    assert form_field(profile, "national_id").validate_answer(
        to_arabic_indic(number), today=TODAY
    ) == (Valid(number))


# -- phone -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "0501234567",
        "501234567",
        "966501234567",
        "+966501234567",
        "+966 50 123 4567",
        "00966501234567",
        "00966 50 123 4567",
        "+966-50-123-4567",
        "(050) 123-4567",
        "+966 0501234567",
        "٠٥٠١٢٣٤٥٦٧",
        "+٩٦٦٥٠١٢٣٤٥٦٧",
        "۰۵۰۱۲۳۴۵۶۷",
        "\u200e0501234567\u200e",
    ],
)
def test_saudi_mobile_forms(profile: Profile, text: str) -> None:
    assert normalize_saudi_mobile(text) == "+966501234567"
    check(form_field(profile, "mobile"), text, "+966501234567")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0551234567", "+966551234567"),
        ("0112345678", Invalid(R.PHONE_LANDLINE_SAUDI)),
        ("011 234 5678", Invalid(R.PHONE_LANDLINE_SAUDI)),
        ("0521234567", Invalid(R.PHONE_SAUDI_MOBILE)),
        ("050123456", Invalid(R.PHONE_SAUDI_MOBILE)),
        ("05012345678", Invalid(R.PHONE_SAUDI_MOBILE)),
        ("+971501234567", Invalid(R.PHONE_SAUDI_MOBILE)),
        ("my number", Invalid(R.PHONE_SAUDI_MOBILE)),
        ("", Invalid(R.PHONE_SAUDI_MOBILE)),
    ],
)
def test_mobile_field(profile: Profile, text: str, expected: Any) -> None:
    assert normalize_saudi_mobile(text) == (expected if isinstance(expected, str) else None)
    check(form_field(profile, "mobile"), text, expected)


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        (
            PhoneField(id="p", kind="phone", label=LABEL, mobile_only=False),
            "0112345678",
            "+966112345678",
        ),
        (
            PhoneField(id="p", kind="phone", label=LABEL, mobile_only=False),
            "٠٥٠١٢٣٤٥٦٧",
            "+966501234567",
        ),
        (
            PhoneField(id="p", kind="phone", label=LABEL, mobile_only=False),
            "12",
            Invalid(R.PHONE_SAUDI),
        ),
        (PhoneField(id="p", kind="phone", label=LABEL, region="AE"), "0501234567", "+971501234567"),
        (
            PhoneField(id="p", kind="phone", label=LABEL, region="AE"),
            "05012345",
            Invalid(R.PHONE_MOBILE),
        ),
        (
            PhoneField(id="p", kind="phone", label=LABEL, region="AE"),
            "043456789",
            Invalid(R.PHONE_LANDLINE),
        ),
        (
            PhoneField(id="p", kind="phone", label=LABEL, region="AE", mobile_only=False),
            "1",
            Invalid(R.PHONE_ANY),
        ),
    ],
)
def test_other_phone_fields(field: PhoneField, text: str, expected: Any) -> None:
    check(field, text, expected)


# -- dates -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07/12/1989", date(1989, 12, 7)),
        ("7/12/1989", date(1989, 12, 7)),
        ("1989-12-07", date(1989, 12, 7)),
        ("1989/12/7", date(1989, 12, 7)),
        ("7-12-1989", date(1989, 12, 7)),
        ("7 12 1989", date(1989, 12, 7)),
        ("7.12.1989", date(1989, 12, 7)),
        ("٠٧/١٢/١٩٨٩", date(1989, 12, 7)),
        ("۷/۱۲/۱۹۸۹", date(1989, 12, 7)),
        ("7/12/1989م", date(1989, 12, 7)),
        ("07121989", date(1989, 12, 7)),
        ("12/05/1410", date(1989, 12, 10)),
        ("1410/5/12", date(1989, 12, 10)),
        ("1410-05-12", date(1989, 12, 10)),
        ("12 5 1410", date(1989, 12, 10)),
        ("١٢/٠٥/١٤١٠", date(1989, 12, 10)),
        ("١٤١٠/٥/١٢", date(1989, 12, 10)),
        ("12/05/1410هـ", date(1989, 12, 10)),
        ("12/05/1410 ه", date(1989, 12, 10)),
        ("12/05/1410 AH", date(1989, 12, 10)),
        ("01/09/1446", date(2025, 3, 1)),
        ("29/02/2024", date(2024, 2, 29)),
        ("31/02/1989", None),
        ("29/02/2023", None),
        ("30/02/1410", None),  # Safar 1410 has 29 days in Umm al-Qura
        ("13/13/1989", None),
        ("7/12/89", None),
        ("1989", None),
        ("7/12", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07/12/1989", "1989-12-07"),
        ("١٢/٠٥/١٤١٠", "1989-12-10"),
        ("01/06/2025", "2025-06-01"),
        ("02/06/2025", Invalid(R.DATE_FUTURE)),
        ("01/01/1447", Invalid(R.DATE_FUTURE)),  # 26 June 2025
        ("31/02/1989", Invalid(R.DATE_NOT_EXISTING)),
        ("30/02/1410", Invalid(R.DATE_NOT_EXISTING)),
        ("7/12/89", Invalid(R.DATE_TWO_DIGIT_YEAR)),
        ("12 مارس 89", Invalid(R.DATE_TWO_DIGIT_YEAR)),
        ("December 1989", Invalid(R.DATE_FORMAT)),
        # Months by name, Hijri or Gregorian, in Arabic (Gulf or Levantine) or English.
        ("12 جمادى الاولى 1410", "1989-12-10"),
        ("١٢ جمادى الأولى ١٤١٠ هـ", "1989-12-10"),
        ("15 مارس 1990", "1990-03-15"),
        ("15 آذار 1990", "1990-03-15"),
        ("15 March 1990", "1990-03-15"),
        ("7-Dec-1989", "1989-12-07"),
        ("15 مارس 1410", Invalid(R.DATE_CALENDARS_MIXED)),
        ("12 رجب 1990", Invalid(R.DATE_CALENDARS_MIXED)),
        (
            "7/12/1789",
            Invalid(
                R.DATE_YEAR, {"hijri_min": "1343", "hijri_max": "1500", "gregorian_min": "1900"}
            ),
        ),
        (
            "7/12/1300",
            Invalid(
                R.DATE_YEAR, {"hijri_min": "1343", "hijri_max": "1500", "gregorian_min": "1900"}
            ),
        ),
    ],
)
def test_birth_date(profile: Profile, text: str, expected: Any) -> None:
    field = form_field(profile, "birth_date")
    assert isinstance(field, DateField) and field.not_in_future
    check(field, text, expected)


EXPIRY = DateField(id="id_expiry", kind="date", label=LABEL, not_expired=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01/06/2025", "2025-06-01"),
        ("1450/1/1", "2028-05-25"),
        ("31/12/2030", "2030-12-31"),
        ("31/05/2025", Invalid(R.DATE_EXPIRED, {"date": date(2025, 5, 31)})),
        ("1/1/1440", Invalid(R.DATE_EXPIRED, {"date": date(2018, 9, 11)})),
    ],
)
def test_document_expiry(text: str, expected: Any) -> None:
    check(EXPIRY, text, expected)


def test_expired_date_reads_in_both_calendars() -> None:
    result = EXPIRY.validate_answer("31/05/2025", today=TODAY)
    assert isinstance(result, Invalid)
    text = result.render(translator("en"))
    assert text.startswith("This document expired on ") and "2025" in text and "1446" in text


# -- numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        ("٥", 5),
        ("۱۲", 12),
        (" 30 ", 30),
        ("5 أفراد", 5),
        ("we are 7", 7),
        ("0", Invalid(R.NUMBER_RANGE, {"min": 1, "max": 30})),
        ("٣١", Invalid(R.NUMBER_RANGE, {"min": 1, "max": 30})),
        ("-2", Invalid(R.NUMBER_RANGE, {"min": 1, "max": 30})),
        ("2.5", Invalid(R.NUMBER_WHOLE)),
        ("5 or 6", Invalid(R.NUMBER_WHOLE)),
        ("five", Invalid(R.NUMBER_WHOLE)),
        ("", Invalid(R.NUMBER_WHOLE)),
    ],
)
def test_family_size(profile: Profile, text: str, expected: Any) -> None:
    check(form_field(profile, "family_size"), text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3500", "3500.00"),
        ("٣٬٥٠٠ ريال", "3500.00"),
        ("٣٥٠٠ ريالاً", "3500.00"),
        ("3,500", "3500.00"),
        ("3,500.5", "3500.50"),
        ("٣٥٠٠٫٧٥", "3500.75"),
        ("3500 SAR", "3500.00"),
        ("3500sr", "3500.00"),
        ("٣٥٠٠ ريال سعودي", "3500.00"),
        ("1,500 Saudi riyals", "1500.00"),
        ("٢٠٠٠ ريال سعودى", "2000.00"),
        ("3500 ر.س", "3500.00"),
        ("﷼ 1200", "1200.00"),
        ("٣،٥٠٠ ريال", "3500.00"),
        ("0", "0.00"),
        ("100000", "100000.00"),
        ("100001", Invalid(R.NUMBER_RANGE, {"min": Decimal(0), "max": Decimal(100000)})),
        ("-5", Invalid(R.NUMBER_RANGE, {"min": Decimal(0), "max": Decimal(100000)})),
        ("3.500", Invalid(R.MONEY_FORMAT)),
        ("3,50", Invalid(R.MONEY_FORMAT)),
        ("3 آلاف", Invalid(R.MONEY_FORMAT)),
        ("nothing", Invalid(R.MONEY_FORMAT)),
        ("", Invalid(R.MONEY_FORMAT)),
    ],
)
def test_monthly_income(profile: Profile, text: str, expected: Any) -> None:
    check(form_field(profile, "monthly_income"), text, expected)


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        (
            MoneyField(id="m", kind="money", label=LABEL, min=Decimal(100)),
            "99.99",
            Invalid(R.NUMBER_MIN, {"min": Decimal(100)}),
        ),
        (MoneyField(id="m", kind="money", label=LABEL, min=Decimal(100)), "1000000", "1000000.00"),
        (
            IntegerField(id="i", kind="integer", label=LABEL, max=10),
            "11",
            Invalid(R.NUMBER_MAX, {"max": 10}),
        ),
        (IntegerField(id="i", kind="integer", label=LABEL, max=10), "-4", -4),
        (IntegerField(id="i", kind="integer", label=LABEL), "١٢٣٤٥", 12345),
    ],
)
def test_one_sided_ranges(field: FormField, text: str, expected: Any) -> None:
    check(field, text, expected)


def test_range_reads_with_grouped_numbers() -> None:
    reason = Invalid(R.NUMBER_RANGE, {"min": Decimal(0), "max": Decimal(100000)})
    assert reason.render(translator("en")) == "Please send a number between 0 and 100,000."


# -- choices ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "food_basket"),
        ("٢", "financial_aid"),
        ("۵", "education"),
        ("rent", "rent"),
        ("food_basket", "food_basket"),
        ("سلة غذائية", "food_basket"),
        ("سله غذائيه", "food_basket"),
        ("مساعدة مالية", "financial_aid"),
        ("المساعدة في سداد الإيجار", "rent"),
        ("الايجار", "rent"),
        ("Medical aid", "medical"),
        ("medical AID", "medical"),
        ("2. Financial aid", "financial_aid"),
        ("تعليمي", "education"),
        ("6", Invalid(R.CHOICE_RANGE, {"max": 5})),
        ("0", Invalid(R.CHOICE_RANGE, {"max": 5})),
        ("aid", Invalid(R.CHOICE_UNKNOWN)),
        ("مساعدة", Invalid(R.CHOICE_UNKNOWN)),
        ("car", Invalid(R.CHOICE_UNKNOWN)),
        ("", Invalid(R.CHOICE_UNKNOWN)),
    ],
)
def test_support_type(profile: Profile, text: str, expected: Any) -> None:
    field = form_field(profile, "support_type")
    assert isinstance(field, ChoiceField) and field.options_from == "request_types"
    check(field, text, expected, request_types=profile.request_types)


def test_choice_from_request_types_needs_its_options(profile: Profile) -> None:
    with pytest.raises(ValueError, match="support_type"):
        form_field(profile, "support_type").validate_answer("1", today=TODAY)


MARITAL = [
    ChoiceOption(id="married", label=LocalizedText(ar="متزوج", en="Married")),
    ChoiceOption(id="widowed", label=LocalizedText(ar="أرمل", en="Widowed")),
]


@pytest.mark.parametrize(
    ("field", "text", "expected"),
    [
        (ChoiceField(id="c", kind="choice", label=LABEL, options=MARITAL), "٢", "widowed"),
        (ChoiceField(id="c", kind="choice", label=LABEL, options=MARITAL), "ارمل", "widowed"),
        (ChoiceField(id="c", kind="choice", label=LABEL, options=MARITAL), "MARRIED", "married"),
        (
            ChoiceField(id="c", kind="choice", label=LABEL, options=MARITAL),
            "3",
            Invalid(R.CHOICE_RANGE, {"max": 2}),
        ),
        (CityField(id="city", kind="city", label=LABEL, options=MARITAL), "1", "married"),
    ],
)
def test_own_options(field: FormField, text: str, expected: Any) -> None:
    check(field, text, expected)


# -- text and city ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  محمد أحمد علي الزهراني \n", "محمد أحمد علي الزهراني"),
        ("\u200fسارة خالد\u200f", "سارة خالد"),
        ("علي", Invalid(R.TEXT_MIN, {"min": 6})),
        ("\u200fعلي \u200f", Invalid(R.TEXT_MIN, {"min": 6})),
        ("x" * 100, "x" * 100),
        ("x" * 101, Invalid(R.TEXT_MAX, {"max": 100, "count": 101})),
    ],
)
def test_full_name(profile: Profile, text: str, expected: Any) -> None:
    check(form_field(profile, "full_name"), text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("١٠٠٠١٢٣٤٥٤", Invalid(NAME_DIGITS)),
        ("أحمد 2 الحربي", Invalid(NAME_DIGITS)),
        ("ما هي الشروط المطلوبة؟", Invalid(NAME_NOT_A_NAME)),
        ("كيف اقدم على الدعم", Invalid(NAME_NOT_A_NAME)),
        ("how do I apply for support", Invalid(NAME_NOT_A_NAME)),
        ("I want to apply", Invalid(NAME_NOT_A_NAME)),
        ("أحمد@الحربي", Invalid(NAME_NOT_A_NAME)),
        ("عبد الرحمن بن محمد آل سعود", "عبد الرحمن بن محمد آل سعود"),
        ("Mary-Jane O'Neil Smith", "Mary-Jane O'Neil Smith"),
    ],
)
def test_full_name_is_a_name(profile: Profile, text: str, expected: Any) -> None:
    check(form_field(profile, "full_name"), text, expected)


def test_description_keeps_its_lines(profile: Profile) -> None:
    text = "  أرملة ولدي أربعة أطفال.\nأحتاج مساعدة في الإيجار.  "
    check(form_field(profile, "description"), text, text.strip())
    check(form_field(profile, "description"), "محتاج", Invalid(R.TEXT_MIN, {"min": 10}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("الرياض", "الرياض"),
        ("  الخرج   ", "الخرج"),
        ("Riyadh", "Riyadh"),
        ("١٢٣", Invalid(R.CITY_NAME)),
        ("ب", Invalid(R.CITY_NAME)),
        ("", Invalid(R.CITY_NAME)),
        ("م" * 61, Invalid(R.TEXT_MAX, {"max": 60, "count": 61})),
    ],
)
def test_city(profile: Profile, text: str, expected: Any) -> None:
    check(form_field(profile, "city"), text, expected)


# -- media -----------------------------------------------------------------------------------
def test_text_instead_of_documents(profile: Profile) -> None:
    documents = form_field(profile, "documents")
    assert isinstance(documents, MediaField) and not documents.required
    skip_hint = "Please send a photo or a PDF of the document, or write “skip”."
    check(documents, "here you go", Invalid(skip_hint))
    required = MediaField(id="id_copy", kind="media", label=LABEL)
    check(required, "ok", Invalid(R.MEDIA_EXPECTED))


@pytest.mark.parametrize(
    ("content_types", "count_so_far", "expected"),
    [
        (["image/jpeg"], 0, 1),
        (["image/png", "application/pdf"], 2, 4),
        (["IMAGE/JPEG; charset=binary"], 0, 1),
        (["image/jpg"], 4, 5),
        (["video/mp4"], 0, Invalid(R.MEDIA_TYPE, {"types": "JPEG, PNG, PDF"})),
        (["image/jpeg", "audio/ogg"], 0, Invalid(R.MEDIA_TYPE, {"types": "JPEG, PNG, PDF"})),
        (["image/jpeg", "image/jpeg"], 4, Invalid(R.MEDIA_TOO_MANY, {"max": 5, "count": 4})),
        (["application/pdf"], 5, Invalid(R.MEDIA_TOO_MANY, {"max": 5, "count": 5})),
        ([], 0, Invalid(R.MEDIA_OR_SKIP)),
    ],
)
def test_documents_media(
    profile: Profile, content_types: list[str], count_so_far: int, expected: Any
) -> None:
    field = form_field(profile, "documents")
    assert isinstance(field, MediaField)
    result = field.validate_files(content_types, count_so_far)
    assert result == (expected if isinstance(expected, Invalid) else Valid(expected))


def test_media_wildcard() -> None:
    field = MediaField(id="m", kind="media", label=LABEL, content_types=["image/*"])
    assert field.validate_files(["image/webp"], 0) == Valid(1)
    assert field.validate_files(["application/pdf"], 0) == Invalid(R.MEDIA_TYPE, {"types": "IMAGE"})


# -- the reasons themselves ------------------------------------------------------------------


# The msgids are the catalogs' keys: rewording one here orphans its translations. Keep them in
# step with locales/*/tawasul.po.
WORDING = {
    "ID_DIGITS_ONLY": "Please write the national ID or iqama number in digits only.",
    "ID_LENGTH": "The national ID must be exactly 10 digits; you wrote {count}.",
    "ID_FIRST_DIGIT": "The national ID starts with 1 for citizens or 2 for residents.",
    "ID_CHECKSUM": "This national ID is not valid. Please check the digits and send it again.",
    "DATE_FORMAT": (
        "Please write the date as day/month/year, for example 07/12/1989 or 12/05/1410 (Hijri)."
    ),
    "DATE_YEAR": (
        "Please check the year: write a Hijri year from {hijri_min} to {hijri_max} or "
        "a Gregorian year from {gregorian_min}, with all four digits."
    ),
    "DATE_TWO_DIGIT_YEAR": (
        "Please write the year with all four digits, for example 1989, or 1410 in Hijri: two "
        "digits could be a year of either calendar."
    ),
    "DATE_CALENDARS_MIXED": (
        "The month and the year are from different calendars. Please write the whole date in "
        "Hijri (for example 12 Jumada al-Ula 1410) or in Gregorian (for example 15 March 1990)."
    ),
    "DATE_NOT_EXISTING": "This date does not exist. Please check the day and the month.",
    "DATE_FUTURE": "The date cannot be in the future.",
    "DATE_EXPIRED": ("This document expired on {date}. Please renew it first or send a valid one."),
    "PHONE_SAUDI_MOBILE": "Please send a Saudi mobile number such as 05XXXXXXXX.",
    "PHONE_SAUDI": "Please send a Saudi phone number such as 05XXXXXXXX or 011XXXXXXX.",
    "PHONE_MOBILE": "Please send a valid mobile number.",
    "PHONE_ANY": "Please send a valid phone number.",
    "PHONE_LANDLINE_SAUDI": (
        "This is a landline number. Please send a mobile number such as 05XXXXXXXX."
    ),
    "PHONE_LANDLINE": "This is a landline number. Please send a mobile number.",
    "NUMBER_WHOLE": "Please write a whole number in digits, for example 5.",
    "NUMBER_RANGE": "Please send a number between {min} and {max}.",
    "NUMBER_MIN": "Please send a number of at least {min}.",
    "NUMBER_MAX": "Please send a number no greater than {max}.",
    "MONEY_FORMAT": "Please write the amount in digits only, for example 3500.",
    "CHOICE_UNKNOWN": "Please choose one of the options by its number.",
    "CHOICE_RANGE": "Please choose a number from 1 to {max}.",
    "TEXT_MIN": "Please write at least {min} characters.",
    "TEXT_MAX": "Please write at most {max} characters; your answer has {count}.",
    "CITY_NAME": "Please write the name of the city or town where you live.",
    "MEDIA_EXPECTED": "Please send a photo or a PDF of the document.",
    "MEDIA_OR_SKIP": "Please send a photo or a PDF of the document, or write “skip”.",
    "MEDIA_TYPE": "This type of file cannot be accepted. Please send one of: {types}.",
    "MEDIA_TOO_MANY": "You can send at most {max} files in total; you have already sent {count}.",
}


def test_reason_wording_is_pinned() -> None:
    assert module_reasons() == WORDING


def test_every_reason_is_extracted_for_the_catalogs() -> None:
    extracted: set[str] = set()
    for module in KIND_MODULES:
        path = Path(str(module.__file__))
        extracted |= {m[1] for m in extract_from_file("python", path, keywords={"N_": None})}
    reasons = set(module_reasons().values())
    assert len(reasons) >= 25
    assert reasons <= extracted


def test_reasons_are_english_sentences_with_known_placeholders() -> None:
    allowed = {"count", "min", "max", "date", "types", "hijri_min", "hijri_max", "gregorian_min"}
    for name, reason in module_reasons().items():
        assert reason.isascii() or "“skip”" in reason, name
        assert reason[0].isupper() and reason.endswith("."), name
        assert set(re.findall(r"{(\w+)}", reason)) <= allowed, name


def test_render_fills_every_placeholder() -> None:
    en = translator("en")
    for reason in module_reasons().values():
        params = {k: 3 for k in re.findall(r"{(\w+)}", reason)}
        assert "{" not in Invalid(reason, params).render(en)
