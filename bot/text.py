"""Text helpers for what beneficiaries type: digits, Arabic normalisation, numbers.

Beneficiaries type Arabic on phones with Arabic-Indic or Persian digit keyboards, with or
without hamza, diacritics or tatweel, so every comparison (keywords, menu items, FAQ) goes
through :func:`normalize_for_matching` and every number they type through :func:`parse_int`.

Pure functions, no I/O. Arabic characters are written as escapes on purpose: the project's
hook rejects Arabic literals in ``bot/`` (user-facing Arabic lives in the catalogs).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "has_arabic_letters",
    "has_latin_letters",
    "normalize_digits",
    "normalize_for_matching",
    "parse_int",
    "repair_unicode",
]

# Arabic-Indic U+0660-0669 and Extended Arabic-Indic (Persian/Urdu) U+06F0-06F9 -> ASCII;
# Arabic decimal separator U+066B -> "."; Arabic thousands separator U+066C dropped.
_DIGITS: dict[int, str | None] = {0x0660 + i: str(i) for i in range(10)}
_DIGITS.update({0x06F0 + i: str(i) for i in range(10)})
_DIGITS[0x066B] = "."
_DIGITS[0x066C] = None
_DIGIT_TABLE = str.maketrans(_DIGITS)

_ALEF = "\u0627"
_YEH = "\u064a"
_HEH = "\u0647"
_WAW = "\u0648"
_KAF = "\u0643"

# Letter forms people use interchangeably when typing; folded to one form for matching only.
_LETTERS: dict[int, str | None] = {
    0x0623: _ALEF,  # alef with hamza above
    0x0625: _ALEF,  # alef with hamza below
    0x0622: _ALEF,  # alef with madda
    0x0671: _ALEF,  # alef wasla
    0x0672: _ALEF,  # alef with wavy hamza above
    0x0673: _ALEF,  # alef with wavy hamza below
    0x0649: _YEH,  # alef maksura
    0x0626: _YEH,  # yeh with hamza above
    0x06CC: _YEH,  # Farsi yeh (Persian/Urdu keyboards)
    0x0629: _HEH,  # teh marbuta
    0x06C0: _HEH,  # heh with yeh above (Persian)
    0x06C1: _HEH,  # heh goal (Urdu)
    0x06BE: _HEH,  # heh doachashmee (Urdu)
    0x0624: _WAW,  # waw with hamza above
    0x06A9: _KAF,  # keheh (Persian/Urdu kaf)
    0x0640: None,  # tatweel (kashida): decoration only
    0x0674: None,  # high hamza (left over by NFKC from U+0675..U+0678)
}
# Tashkeel and other combining marks (incl. hamza above/below), superscript alef,
# Quranic annotation marks.
_LETTERS.update({cp: None for cp in range(0x064B, 0x0660)})
_LETTERS[0x0670] = None
_LETTERS.update({cp: None for cp in range(0x06D6, 0x06EE)})
_LETTER_TABLE = str.maketrans(_LETTERS)

_ASCII_INT = re.compile(r"[0-9]+")
_SIGNED_ASCII_INT = re.compile(r"[+-]?[0-9]+")
# Minus-like characters a phone keyboard may produce, accepted only when signs are allowed.
_MINUS_TABLE = str.maketrans({"\u2212": "-", "\u2013": "-", "\ufe63": "-", "\uff0d": "-"})

_ARABIC_RANGES = (
    (0x0600, 0x06FF),
    (0x0750, 0x077F),
    (0x0870, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
)


def normalize_digits(s: str) -> str:
    """Arabic-Indic and Persian digits to ASCII, so numbers typed on any keyboard compare."""
    return s.translate(_DIGIT_TABLE)


def _strip_format_chars(s: str) -> str:
    """Drop invisible format characters (bidi marks, ZWJ/ZWNJ, BOM) phones insert around text."""
    return "".join(ch for ch in s if unicodedata.category(ch) != "Cf")


def normalize_for_matching(s: str) -> str:
    """The one key every keyword, menu and FAQ comparison uses.

    Spelling variants that Arabic readers treat as the same word (hamza forms, alef maksura,
    teh marbuta, diacritics, tatweel, Persian letter look-alikes, digit scripts, Latin case,
    punctuation, spacing) all collapse to one form. The result is for comparison only, never
    for display.
    """
    s = unicodedata.normalize("NFKC", s)
    s = normalize_digits(s)
    s = s.translate(_LETTER_TABLE)
    s = s.casefold()
    out: list[str] = []
    for ch in s:
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue  # invisible marks join, never split
        if cat[0] in "PS":
            out.append(" ")  # punctuation and symbols (incl. emoji) separate words
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def _is_arabic_letter(ch: str) -> bool:
    cp = ord(ch)
    if cp == 0x0640:  # tatweel is not a letter one can read
        return False
    return any(lo <= cp <= hi for lo, hi in _ARABIC_RANGES) and unicodedata.category(ch)[0] == "L"


def has_arabic_letters(s: str) -> bool:
    """True if the text has at least one Arabic-script letter (digits and marks do not count).

    Used to guess a new contact's language from their first message.
    """
    return any(_is_arabic_letter(ch) for ch in s)


def has_latin_letters(s: str) -> bool:
    """True if the text has at least one Latin-script letter (a-z, accented, fullwidth)."""
    for ch in s:
        if ch.isascii():
            if ch.isalpha():
                return True
        elif ch.isalpha() and unicodedata.name(ch, "").startswith(("LATIN ", "FULLWIDTH LATIN ")):
            return True
    return False


def parse_int(s: str, *, signed: bool = False) -> int | None:
    """A whole number typed by a beneficiary (menu choice, count), or None.

    Accepts ASCII, Arabic-Indic and Persian digits and surrounding spaces or bidi marks;
    rejects anything else ("12.", "1,000", "12a", "") so a typo is never taken as a choice.
    A leading + or - is accepted only with ``signed=True``.
    """
    t = _strip_format_chars(normalize_digits(s)).strip()
    if signed:
        t = t.translate(_MINUS_TABLE)
        if _SIGNED_ASCII_INT.fullmatch(t):
            return int(t)
        return None
    if _ASCII_INT.fullmatch(t):
        return int(t)
    return None


def repair_unicode(s: str) -> str:
    """The text with every lone UTF-16 surrogate replaced by U+FFFD.

    JSON may carry `\\ud800` on its own, and Python's JSON reader decodes the raw bytes
    ED A0 80 to the same: a string that cannot be encrypted, stored or sent on. Providers
    retry a message they see refused, so it is repaired where it enters instead. A pair of
    surrogates written apart (CESU-8) is joined back into the character it stands for.
    """
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return s
