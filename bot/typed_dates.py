"""Reading the dates beneficiaries type, in the Hijri (Umm al-Qura) or Gregorian calendar.

Saudi documents carry Hijri dates and many people know their birth date only in Hijri, so both
calendars are accepted and told apart by the year: a Hijri year is below 1600, a Gregorian year is
1900 or later. Parts are day/month/year unless the year comes first (1410/5/12, 1989-12-07), in any
digit script, separated by "/", "-", ".", "," or spaces. The month may also be written by its name
(Hijri or Gregorian, in Arabic, Levantine Arabic or English: "12 Jumada al-Ula 1410", "15 March
1990"), which names the calendar too. Two-digit years are refused (`has_two_digit_year` lets the
caller say so): "89" could be 1989 or 1389. The result is always the Gregorian date; storage keeps
only ISO Gregorian.

Pure functions, no I/O. Arabic characters are escapes on purpose (the project's hook rejects
Arabic literals in code).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal

from hijridate import Hijri

from bot.text import normalize_digits, normalize_for_matching

__all__ = [
    "GREGORIAN_MIN_YEAR",
    "HIJRI_MAX_YEAR",
    "HIJRI_MIN_YEAR",
    "NamedDate",
    "has_two_digit_year",
    "parse_date",
    "split_date",
    "split_named_date",
    "to_gregorian",
]

# hijridate's Umm al-Qura tables cover 1343-1500 AH (1924-2077 CE).
HIJRI_MIN_YEAR = 1343
HIJRI_MAX_YEAR = 1500
# Years from here on are Gregorian; below _HIJRI_BELOW they are Hijri; between is a typo.
GREGORIAN_MIN_YEAR = 1900
_HIJRI_BELOW = 1600

# Era words people add after a date: Hijri "<heh><tatweel>", "<heh>", "hijri" (in Arabic),
# "AH", "H"; Gregorian "<meem>", "miladi" (in Arabic), "AD", "CE", "G". Longest first.
_ERA_WORDS = (
    "\u0647\u062c\u0631\u064a\u0647",  # hijriyya
    "\u0647\u062c\u0631\u064a",  # hijri
    "\u0645\u064a\u0644\u0627\u062f\u064a\u0647",  # miladiyya
    "\u0645\u064a\u0644\u0627\u062f\u064a",  # miladi
    "\u0647",  # heh (tatweel is removed before)
    "\u0645",  # meem
    "ah",
    "ad",
    "ce",
    "h",
    "g",
)
_ERA_RE = re.compile(
    r"(?<![a-z\u0621-\u064a])(?:" + "|".join(_ERA_WORDS) + r")(?![a-z\u0621-\u064a])"
)
_ALLOWED_RE = re.compile(r"[\d\s/\\.,\-\u060c_]+")
_NUMBER_RE = re.compile(r"\d+")


def _clean(text: str) -> str:
    """Western digits, no bidi marks, tatweel, teh marbuta or era words; lower case."""
    text = normalize_digits(unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = text.replace("\u0640", "").replace("\u0629", "\u0647").casefold()
    return _ERA_RE.sub(" ", text).strip()


def to_gregorian(year: int, month: int, day: int) -> date | None:
    """The Gregorian date of a Hijri (year < 1600) or Gregorian (year >= 1900) date, or None.

    None for dates that do not exist (31/02, 30th of a 29-day Hijri month) and for years outside
    both calendars' ranges, so a typo is never silently turned into some other date.
    """
    try:
        if year < _HIJRI_BELOW:
            # hijridate's Gregorian subclasses date; hand back a plain one.
            return date(*Hijri(year, month, day).to_gregorian().datetuple())
        if year >= GREGORIAN_MIN_YEAR:
            return date(year, month, day)
    except (ValueError, OverflowError):
        return None
    return None


def split_date(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) as typed, before any calendar check, or None if it is not a date shape.

    Kept apart from `to_gregorian` so a caller can tell "not written as a date" from "a date that
    does not exist" and answer each clearly.
    """
    cleaned = _clean(text)
    if not cleaned or not _ALLOWED_RE.fullmatch(cleaned):
        return None
    parts = _NUMBER_RE.findall(cleaned)
    if len(parts) == 1 and len(parts[0]) == 8:
        return _split_compact(parts[0])
    if len(parts) != 3:
        return None
    first, second, third = parts
    if len(first) == 4 and len(second) <= 2 and len(third) <= 2:
        return int(first), int(second), int(third)
    if len(third) == 4 and len(first) <= 2 and len(second) <= 2:
        return int(third), int(second), int(first)
    return None


def _split_compact(digits: str) -> tuple[int, int, int]:
    """'07121989' or '19891207' typed without separators: take the reading that is a real date."""
    year_first = (int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    day_first = (int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    if to_gregorian(*year_first) is not None and to_gregorian(*day_first) is None:
        return year_first
    return day_first


def parse_date(text: str) -> date | None:
    """The Gregorian date a beneficiary typed (Hijri converted with Umm al-Qura), or None."""
    parts = split_date(text)
    return to_gregorian(*parts) if parts is not None else None


# -- months written by name -----------------------------------------------------------------
# Spellings people type, in Arabic (Gulf and Levantine names of the Gregorian months) and
# English; they are compared after normalize_for_matching, so hamza and alef forms, teh
# marbuta and case do not matter, and "al-" or "'" separate words as spaces do.
_HIJRI_MONTHS: dict[int, tuple[str, ...]] = {
    1: (  # muharram
        "\u0645\u062d\u0631\u0645",
        "muharram",
    ),
    2: (  # safar
        "\u0635\u0641\u0631",
        "safar",
    ),
    3: (  # rabi al awwal
        "\u0631\u0628\u064a\u0639 \u0627\u0644\u0623\u0648\u0644",
        "\u0631\u0628\u064a\u0639 \u0623\u0648\u0644",
        "\u0631\u0628\u064a\u0639 \u0627\u0644\u0627\u0648\u0644",
        "rabi al awwal",
        "rabi ul awwal",
        "rabi i",
    ),
    4: (  # rabi al akhir
        "\u0631\u0628\u064a\u0639 \u0627\u0644\u0622\u062e\u0631",
        "\u0631\u0628\u064a\u0639 \u0627\u0644\u062b\u0627\u0646\u064a",
        "\u0631\u0628\u064a\u0639 \u062b\u0627\u0646\u064a",
        "\u0631\u0628\u064a\u0639 \u0622\u062e\u0631",
        "rabi al akhir",
        "rabi al thani",
        "rabi ul akhir",
        "rabi ii",
    ),
    5: (  # jumada al ula
        "\u062c\u0645\u0627\u062f\u0649 \u0627\u0644\u0623\u0648\u0644\u0649",
        "\u062c\u0645\u0627\u062f\u0649 \u0627\u0644\u0623\u0648\u0644",
        "\u062c\u0645\u0627\u062f\u0649 \u0623\u0648\u0644\u0649",
        "\u062c\u0645\u0627\u062f \u0623\u0648\u0644",
        "\u062c\u0645\u0627\u062f\u0649 \u0627\u0644\u0627\u0648\u0644\u0649",
        "jumada al ula",
        "jumada al awwal",
        "jumada i",
    ),
    6: (  # jumada al akhirah
        "\u062c\u0645\u0627\u062f\u0649 \u0627\u0644\u0622\u062e\u0631\u0629",
        "\u062c\u0645\u0627\u062f\u0649 \u0627\u0644\u0622\u062e\u0631",
        "\u062c\u0645\u0627\u062f\u0649 \u0627\u0644\u062b\u0627\u0646\u064a\u0629",
        "\u062c\u0645\u0627\u062f\u0649 \u062b\u0627\u0646\u064a",
        "\u062c\u0645\u0627\u062f \u062b\u0627\u0646\u064a",
        "jumada al akhirah",
        "jumada al thani",
        "jumada ii",
    ),
    7: (  # rajab
        "\u0631\u062c\u0628",
        "rajab",
    ),
    8: (  # shaban
        "\u0634\u0639\u0628\u0627\u0646",
        "shaban",
        "sha ban",
    ),
    9: (  # ramadan
        "\u0631\u0645\u0636\u0627\u0646",
        "ramadan",
    ),
    10: (  # shawwal
        "\u0634\u0648\u0627\u0644",
        "shawwal",
    ),
    11: (  # dhu al qadah
        "\u0630\u0648 \u0627\u0644\u0642\u0639\u062f\u0629",
        "\u0630\u064a \u0627\u0644\u0642\u0639\u062f\u0629",
        "\u0630\u0648\u0627\u0644\u0642\u0639\u062f\u0629",
        "dhu al qadah",
        "dhul qadah",
        "dhu al qidah",
        "dhu al qi dah",
    ),
    12: (  # dhu al hijjah
        "\u0630\u0648 \u0627\u0644\u062d\u062c\u0629",
        "\u0630\u064a \u0627\u0644\u062d\u062c\u0629",
        "\u0630\u0648\u0627\u0644\u062d\u062c\u0629",
        "dhu al hijjah",
        "dhul hijjah",
    ),
}
_GREGORIAN_MONTHS: dict[int, tuple[str, ...]] = {
    1: (  # january
        "\u064a\u0646\u0627\u064a\u0631",
        "\u0643\u0627\u0646\u0648\u0646 \u0627\u0644\u062b\u0627\u0646\u064a",
        "january",
        "jan",
    ),
    2: (  # february
        "\u0641\u0628\u0631\u0627\u064a\u0631",
        "\u0634\u0628\u0627\u0637",
        "february",
        "feb",
    ),
    3: (  # march
        "\u0645\u0627\u0631\u0633",
        "\u0622\u0630\u0627\u0631",
        "march",
        "mar",
    ),
    4: (  # april
        "\u0623\u0628\u0631\u064a\u0644",
        "\u0625\u0628\u0631\u064a\u0644",
        "\u0646\u064a\u0633\u0627\u0646",
        "april",
        "apr",
    ),
    5: (  # may
        "\u0645\u0627\u064a\u0648",
        "\u0623\u064a\u0627\u0631",
        "may",
    ),
    6: (  # june
        "\u064a\u0648\u0646\u064a\u0648",
        "\u064a\u0648\u0646\u064a\u0647",
        "\u062d\u0632\u064a\u0631\u0627\u0646",
        "june",
        "jun",
    ),
    7: (  # july
        "\u064a\u0648\u0644\u064a\u0648",
        "\u064a\u0648\u0644\u064a\u0647",
        "\u062a\u0645\u0648\u0632",
        "july",
        "jul",
    ),
    8: (  # august
        "\u0623\u063a\u0633\u0637\u0633",
        "\u0622\u0628",
        "august",
        "aug",
    ),
    9: (  # september
        "\u0633\u0628\u062a\u0645\u0628\u0631",
        "\u0623\u064a\u0644\u0648\u0644",
        "september",
        "sep",
        "sept",
    ),
    10: (  # october
        "\u0623\u0643\u062a\u0648\u0628\u0631",
        "\u062a\u0634\u0631\u064a\u0646 \u0627\u0644\u0623\u0648\u0644",
        "october",
        "oct",
    ),
    11: (  # november
        "\u0646\u0648\u0641\u0645\u0628\u0631",
        "\u062a\u0634\u0631\u064a\u0646 \u0627\u0644\u062b\u0627\u0646\u064a",
        "november",
        "nov",
    ),
    12: (  # december
        "\u062f\u064a\u0633\u0645\u0628\u0631",
        "\u0643\u0627\u0646\u0648\u0646 \u0627\u0644\u0623\u0648\u0644",
        "december",
        "dec",
    ),
}


Calendar = Literal["hijri", "gregorian"]


@dataclass(frozen=True)
class NamedDate:
    """A date typed with its month's name: the parts as typed, and the month's calendar."""

    year: int
    month: int
    day: int
    calendar: Calendar


def _month_phrases() -> list[tuple[tuple[str, ...], int, Calendar]]:
    """Every month name as a sequence of normalised words, longest first."""
    phrases: list[tuple[tuple[str, ...], int, Calendar]] = []
    tables: tuple[tuple[dict[int, tuple[str, ...]], Calendar], ...] = (
        (_HIJRI_MONTHS, "hijri"),
        (_GREGORIAN_MONTHS, "gregorian"),
    )
    for table, calendar in tables:
        for month, names in table.items():
            for name in names:
                phrases.append((tuple(normalize_for_matching(name).split()), month, calendar))
    phrases.sort(key=lambda phrase: -len(phrase[0]))
    return phrases


_MONTH_PHRASES = _month_phrases()
_NAMED_DAY_RE = re.compile(r"\d{1,2}")


def _named_parts(text: str) -> tuple[str, str, int, Calendar] | None:
    """(day, year, month, calendar) of "<day> <month name> <year>", digits as typed."""
    words = _ERA_RE.sub(" ", normalize_for_matching(text).replace("\u0640", "")).split()
    for phrase, month, calendar in _MONTH_PHRASES:
        size = len(phrase)
        for start in range(len(words) - size + 1):
            if tuple(words[start : start + size]) == phrase:
                rest = words[:start] + words[start + size :]
                if len(rest) == 2 and _NAMED_DAY_RE.fullmatch(rest[0]):
                    return rest[0], rest[1], month, calendar
                return None
    return None


def split_named_date(text: str) -> NamedDate | None:
    """The parts of a date whose month is written by name, or None if it is not one.

    Only "<day> <month> <year>" with a four-digit year; a two-digit year is reported by
    `has_two_digit_year` instead, so the beneficiary hears the true reason.
    """
    parts = _named_parts(text)
    if parts is None or not re.fullmatch(r"\d{4}", parts[1]):
        return None
    day, year, month, calendar = parts
    return NamedDate(int(year), month, int(day), calendar)


def has_two_digit_year(text: str) -> bool:
    """Whether `text` is a date but for its year, written with two digits ("7/12/89")."""
    named = _named_parts(text)
    if named is not None:
        return len(named[1]) == 2
    cleaned = _clean(text)
    if not cleaned or not _ALLOWED_RE.fullmatch(cleaned):
        return False
    parts = _NUMBER_RE.findall(cleaned)
    return len(parts) == 3 and all(len(part) <= 2 for part in parts) and len(parts[2]) == 2
