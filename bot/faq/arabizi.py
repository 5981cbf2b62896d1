"""Arabizi (Franco-Arabic: "wen makankom", "kam yom", "3ndi 7ala 6ar2a") read as Arabic words.

Beneficiaries without an Arabic keyboard, or used to chatting that way, write Arabic in Latin
letters, with digits for the letters Latin lacks (2 hamza, 3 ain, 5 kha, 6 ta, 7 ha, 8 qaf,
9 sad). Spellings vary (vowels most of all: Arabic writes only the long ones), so a word is not
transliterated letter by letter; both scripts are reduced to a *skeleton* of consonant classes
instead, vowels (and the vowel letters alef, medial waw and yeh, final ta marbuta) dropped,
letters that Arabizi writes alike in one class (ta and ta'; ha and heh; sin and sad; dal and
dad; tha, dhal and dha; Gulf "g" with qaf). An Arabizi word is then the known Arabic word of
the same skeleton: a word of the profile's FAQ, of the lexicon or a stop-word (the likeliest,
by how often it is used, on a tie); with an article or a pronoun off if need be.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["ArabiziReader", "arabic_skeleton", "is_arabizi_candidate", "latin_skeleton"]

# Arabic letters (normalised: alef forms, ta marbuta and alef maksura already folded).
_ARABIC_CLASSES = {
    "\u0628": "b",  # ba
    "\u062a": "t",  # ta
    "\u0637": "t",  # ta' (emphatic)
    "\u062b": "v",  # tha
    "\u0630": "v",  # dhal
    "\u0638": "v",  # dha
    "\u062c": "j",  # jim
    "\u062d": "h",  # ha
    "\u0647": "h",  # heh
    "\u062e": "x",  # kha
    "\u062f": "d",  # dal
    "\u0636": "d",  # dad
    "\u0631": "r",  # ra
    "\u0632": "z",  # zay
    "\u0633": "s",  # sin
    "\u0635": "s",  # sad
    "\u0634": "c",  # shin
    "\u0639": "e",  # ain
    "\u063a": "g",  # ghain
    "\u0641": "f",  # fa
    "\u0642": "q",  # qaf
    "\u0643": "k",  # kaf
    "\u0644": "l",  # lam
    "\u0645": "m",  # mim
    "\u0646": "n",  # nun
    "\u0648": "w",  # waw (a consonant only at the start)
    "\u064a": "y",  # yeh (a consonant only at the start)
}
_ALEF, _WAW, _YEH, _HEH = "\u0627", "\u0648", "\u064a", "\u0647"
_ARABIC_VOWEL_CLASS = {_ALEF: "A", _YEH: "I", _WAW: "O"}

# Latin spellings, longest first: digraphs, digits with an apostrophe, digits, letters.
_LATIN_UNITS = (
    ("sh", "c"),
    ("ch", "c"),
    ("kh", "x"),
    ("gh", "g"),
    ("th", "v"),
    ("dh", "v"),
    ("3'", "g"),
    ("7'", "x"),
    ("6'", "v"),
    ("9'", "d"),
    ("2", ""),
    ("3", "e"),
    ("5", "x"),
    ("6", "t"),
    ("7", "h"),
    ("8", "q"),
    ("9", "s"),
    ("b", "b"),
    ("p", "b"),
    ("t", "t"),
    ("j", "j"),
    ("h", "h"),
    ("d", "d"),
    ("r", "r"),
    ("z", "z"),
    ("s", "s"),
    ("c", "k"),
    ("f", "f"),
    ("v", "f"),
    ("q", "q"),
    ("g", "q"),
    ("k", "k"),
    ("l", "l"),
    ("m", "m"),
    ("n", "n"),
    ("w", "w"),
    ("y", "y"),
)
_LATIN_VOWELS = frozenset("aeiou")
_LATIN_WORD = re.compile(r"^[a-z0-9']+$")
# What may come off a skeleton: the article (al-, wal-, bil-, lil-...) and pronouns / plurals.
_PREFIXES = ("wl", "bl", "fl", "kl", "ll", "l", "w", "b")
_SUFFIXES = ("km", "hm", "n", "h", "k", "t")
_MIN_SKELETON = 2


def _squeeze(classes: list[str]) -> str:
    out: list[str] = []
    for c in classes:
        if c and (not out or out[-1] != c):
            out.append(c)
    return "".join(out)


def arabic_skeleton(word: str, *, vowels: bool = False) -> str:
    """The consonant classes of a normalised Arabic word; with `vowels`, its long vowels
    (alef, medial waw and yeh, final ta marbuta) too, as "A", "O", "I"."""
    classes: list[str] = []
    last = len(word) - 1
    for i, letter in enumerate(word):
        vowel = ""
        if letter == _ALEF or (letter in (_WAW, _YEH) and i > 0):
            vowel = _ARABIC_VOWEL_CLASS[letter]
        elif letter == _HEH and i == last and i > 0:
            vowel = "A"  # ta marbuta (normalised to heh) or the pronoun -h
        if vowel:
            classes.append(vowel if vowels else "")
            continue
        classes.append(_ARABIC_CLASSES.get(letter, ""))
    return _squeeze(classes)


def latin_skeleton(word: str, *, vowels: bool = False) -> str:
    """The consonant classes of an Arabizi word (lower case); with `vowels`, its vowels too."""
    classes: list[str] = []
    i = 0
    while i < len(word):
        if word[i] in _LATIN_VOWELS:
            classes.append(_LATIN_VOWEL_CLASS[word[i]] if vowels else "")
            i += 1
            continue
        for spelling, cls in _LATIN_UNITS:
            if word.startswith(spelling, i):
                # Medial w and y are vowels (oo, ee), as in Arabic; final h after a vowel is
                # a ta marbuta ("-ah").
                if cls in ("w", "y") and i > 0:
                    cls = _LATIN_VOWEL_CLASS[cls] if vowels else ""
                if spelling == "h" and i == len(word) - 1 and i > 0:
                    cls = "" if word[i - 1] in _LATIN_VOWELS else cls
                classes.append(cls)
                i += len(spelling)
                break
        else:
            i += 1
    return _squeeze(classes)


def is_arabizi_candidate(word: str) -> bool:
    """A Latin-letter word that may be Arabizi (letters, and perhaps Arabizi digits)."""
    return bool(_LATIN_WORD.match(word)) and any(c.isalpha() for c in word)


class ArabiziReader:
    """Finds the Arabic word an Arabizi word spells, among the words it was given."""

    def __init__(self, words: Iterable[tuple[str, int]]) -> None:
        """`words`: (normalised Arabic word, how often it is used) pairs."""
        self._by_skeleton: dict[str, dict[str, int]] = {}
        for word, count in words:
            skeleton = arabic_skeleton(word)
            if len(skeleton) >= _MIN_SKELETON:
                found = self._by_skeleton.setdefault(skeleton, {})
                found[word] = found.get(word, 0) + count

    def read(self, word: str) -> str | None:
        """The Arabic word `word` spells, or None if it is no known word in Arabizi.

        Of several words with the skeleton, the one whose long vowels (and final ta marbuta)
        best follow the vowels typed, in place, then the most used, then the closest in length:
        "serriya" is "sirriyya", not "suwar", although both are s-r."""
        skeleton = latin_skeleton(word)
        for candidate in _variants(skeleton):
            found = self._by_skeleton.get(candidate)
            if found:
                typed = latin_skeleton(word, vowels=True)
                return max(found, key=lambda w: _likeness(typed, w, found[w]))
        return None


_LATIN_VOWEL_CLASS = {"a": "A", "e": "I", "i": "I", "y": "I", "o": "O", "u": "O", "w": "O"}


def _likeness(typed: str, word: str, used: int) -> tuple[int, int, int, str]:
    """How well an Arabic word fits a pattern of consonants and vowels typed (best highest)."""
    pattern = arabic_skeleton(word, vowels=True)
    return (_common(typed, pattern), used, -abs(len(typed) - len(pattern)), word)


def _common(a: str, b: str) -> int:
    """Length of the longest common subsequence of two short strings."""
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _variants(skeleton: str) -> list[str]:
    """The skeleton, then with an article or a pronoun off, then both (as long as 2+ remain)."""
    found = [skeleton]
    stems = [skeleton]
    for prefix in _PREFIXES:
        if skeleton.startswith(prefix) and len(skeleton) - len(prefix) >= _MIN_SKELETON:
            stems.append(skeleton[len(prefix) :])
            break
    for base in stems:
        for suffix in _SUFFIXES:
            if base.endswith(suffix) and len(base) - len(suffix) >= _MIN_SKELETON:
                found.append(base[: -len(suffix)])
                break
    return [*found[:1], *stems[1:], *found[1:]]
