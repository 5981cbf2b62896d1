"""bot.text: digits, Arabic normalisation for matching, script detection, parse_int."""

import pytest

from bot.text import (
    has_arabic_letters,
    has_latin_letters,
    normalize_digits,
    normalize_for_matching,
    parse_int,
)


def test_arabic_indic_digits() -> None:
    assert normalize_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"


def test_persian_digits() -> None:
    assert normalize_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"


def test_mixed_digits_and_text_kept() -> None:
    assert normalize_digits("رقم ١٢ و۳4") == "رقم 12 و34"


def test_arabic_decimal_and_thousands_separators() -> None:
    assert normalize_digits("١٬٢٣٤٫٥") == "1234.5"


def test_opt_out_spellings_match() -> None:
    forms = ["إلغاء  الاشتراك", "الغاء الاشتراك", "الـغـاء الإشتراك", "إِلْغَاءُ الاِشْتِرَاكِ"]
    assert {normalize_for_matching(f) for f in forms} == {"الغاء الاشتراك"}


def test_diacritics_removed() -> None:
    assert normalize_for_matching("مُسَاعَدَةٌ") == normalize_for_matching("مساعدة")
    assert normalize_for_matching("رَحْمٰن") == "رحمن"  # superscript alef
    assert normalize_for_matching("الْقُرْآنۖ") == "القران"  # Quranic mark


def test_tatweel_removed() -> None:
    assert normalize_for_matching("مـــرحـبـا") == "مرحبا"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("أحمد", "احمد"),
        ("إبراهيم", "ابراهيم"),
        ("آمنة", "امنه"),
        ("ٱلله", "الله"),
        ("مستشفى", "مستشفي"),
        ("مسؤول", "مسوول"),
        ("مسئول", "مسيول"),
        ("کتاب", "كتاب"),  # Persian kaf
        ("فاطمی", "فاطمي"),  # Persian yeh
    ],
)
def test_letter_forms_folded(typed: str, expected: str) -> None:
    assert normalize_for_matching(typed) == expected


def test_presentation_forms_unified_by_nfkc() -> None:
    # "salam" typed in Arabic presentation forms (some old keyboards / PDFs)
    assert normalize_for_matching("ﺳﻼﻡ") == normalize_for_matching("سلام")
    assert normalize_for_matching("ﻻ") == "لا"


def test_punctuation_and_whitespace() -> None:
    assert normalize_for_matching("  نعم،  موافق؟! «تمام» ؛ ok. ") == "نعم موافق تمام ok"
    assert normalize_for_matching("STOP!!!") == "stop"
    assert normalize_for_matching("Main\tMenu\n") == "main menu"


def test_invisible_marks_and_emoji() -> None:
    assert normalize_for_matching("\u200fنعم\u200e 👍") == "نعم"


def test_digits_in_matching() -> None:
    assert normalize_for_matching("خيار ٣") == "خيار 3"


def test_latin_casefold() -> None:
    assert normalize_for_matching("UnSubscribe") == "unsubscribe"


def test_empty() -> None:
    assert normalize_for_matching("") == ""
    assert normalize_for_matching(" ،؟ ") == ""


def test_script_detection() -> None:
    assert has_arabic_letters("مرحبا")
    assert has_arabic_letters("hi سلام")
    assert not has_arabic_letters("١٢٣")  # digits are not letters
    assert not has_arabic_letters("ـ")  # tatweel alone
    assert not has_arabic_letters("hello 123")
    assert has_latin_letters("hello")
    assert has_latin_letters("café")
    assert not has_latin_letters("مرحبا ١٢٣ 123 !")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("١٢", 12),
        ("۱۲", 12),
        (" 12 ", 12),
        ("\u200f٣\u200f", 3),  # bidi marks around a number from a phone
        ("0", 0),
        ("٠٧", 7),
        ("12.", None),
        ("١٢٫", None),
        ("1,000", None),
        ("12a", None),
        ("1 2", None),
        ("", None),
        ("   ", None),
        ("-3", None),
        ("+3", None),
        ("²", None),
    ],
)
def test_parse_int(typed: str, expected: int | None) -> None:
    assert parse_int(typed) == expected


def test_parse_int_signed() -> None:
    assert parse_int("-٣", signed=True) == -3
    assert parse_int("+3", signed=True) == 3
    assert parse_int("\u22123", signed=True) == -3
    assert parse_int("--3", signed=True) is None
    assert parse_int("3", signed=True) == 3
