"""Reading the dates beneficiaries type, in the Hijri (Umm al-Qura) or Gregorian calendar.

Saudi documents carry Hijri dates and many people know their birth date only in Hijri, so both
calendars are accepted and told apart by the year: a Hijri year is below 1600, a Gregorian year is
1900 or later. Parts are day/month/year unless the year comes first (1410/5/12, 1989-12-07), in any
digit script, separated by "/", "-", ".", "," or spaces. Two-digit years are refused: "89" could
be 1989 or 1389. The result is always the Gregorian date; storage keeps only ISO Gregorian.

Pure functions, no I/O. Arabic characters are escapes on purpose (the project's hook rejects
Arabic literals in code).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from hijridate import Hijri

from bot.text import normalize_digits

__all__ = [
    "GREGORIAN_MIN_YEAR",
    "HIJRI_MAX_YEAR",
    "HIJRI_MIN_YEAR",
    "parse_date",
    "split_date",
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
