"""Text to terms: what a message says, as the words the FAQ search compares.

Every text goes through :func:`bot.text.normalize_for_matching` first (diacritics, tatweel,
alef/hamza forms, alef maksura, ta marbuta, digit scripts, case, punctuation); a lone hamza is
dropped too (people leave it out or put it on the wrong seat). Then, per word:

1. **Stop-words** (``stopwords.txt``: Arabic MSA and Gulf question words and particles,
   "I want / can I" fillers, greetings, courtesy and acknowledgement words, English function
   words) are dropped, so only the words that say *what* is asked are left, and a message made
   only of greetings has nothing left to match.
2. **Light stemming.** Arabic: one article/preposition prefix (al-, wal-, bil-, kal-, fal-,
   lil-) and one suffix (pronouns -ha, -hum, -kum, -na, -h, -i, -k; plurals -at, -un, -in,
   past -u) are stripped when at least three letters remain; after a pronoun a plural, a verb's
   -u or the -t of a ta marbuta may go too ("hawiyyati" -> like "al-hawiyya"), after a plural
   the nisba -i ("al-su'udiyyin" -> like "su'udi"). A run of one letter counts once (doubled
   keys, "shukraaan"). English: plural -s/-ies.

Why a stemmer *and* character n-grams (:func:`char_ngrams`): the stemmer joins the regular
forms of a word (dialect and MSA questions, with and without pronouns), precisely; character
3-grams of each stemmed word (with word-boundary marks) keep most of a word with a typo, a
missing or swapped letter or an irregular form, which no light stemmer can; neither alone
found all the test phrasings.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from bot.text import normalize_for_matching

__all__ = [
    "ARABIZI_WORDS",
    "STOPWORDS",
    "STOPWORDS_FILE",
    "char_ngrams",
    "content_term",
    "content_terms",
    "could_be_question",
    "is_arabic_word",
    "stem",
    "words_of",
]

STOPWORDS_FILE = Path(__file__).with_name("stopwords.txt")
ARABIZI_WORDS_FILE = Path(__file__).with_name("arabizi_words.txt")

# A lone hamza is often left out or put on the wrong seat ("tari'", "tari", "tari'e"): drop it.
_DROP_HAMZA = str.maketrans({"\u0621": None})
_REPEATS = re.compile(r"([^\W\d_])\1+")
# An Arabic word glued to a Latin one ("al-whatsapp" typed without a space): two words.
_SCRIPT_CHANGE = re.compile(r"(?<=[\u0600-\u06ff])(?=[a-z0-9])|(?<=[a-z0-9])(?=[\u0600-\u06ff])")


def _load_stopwords(path: Path) -> frozenset[str]:
    words: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.update(normalize_for_matching(line).translate(_DROP_HAMZA).split())
    return frozenset(words)


# Arabizi function words: stop-words too, and the sign of an Arabizi message.
ARABIZI_WORDS: frozenset[str] = _load_stopwords(ARABIZI_WORDS_FILE)
STOPWORDS: frozenset[str] = _load_stopwords(STOPWORDS_FILE) | ARABIZI_WORDS

# Arabic affixes, in their normalised spelling (ta marbuta is already heh, hamza forms are alef).
# Longest first, so "wal-" wins over "al-".
_AR_PREFIXES = (
    "\u0648\u0627\u0644",  # wal-
    "\u0628\u0627\u0644",  # bil-
    "\u0643\u0627\u0644",  # kal-
    "\u0641\u0627\u0644",  # fal-
    "\u0644\u0644",  # lil-
    "\u0627\u0644",  # al-
)
_AR_PRONOUNS = (
    "\u0647\u0627",  # -ha
    "\u0647\u0645",  # -hum
    "\u0643\u0645",  # -kum
    "\u0646\u0627",  # -na
    "\u0647",  # -h (and ta marbuta, normalised to heh)
    "\u064a",  # -i
    "\u0643",  # -k
)
_AR_PLURALS = (
    "\u0627\u062a",  # -at
    "\u0648\u0646",  # -un
    "\u064a\u0646",  # -in
    "\u0648\u0627",  # -u (past tense: "rafadu")
)
_AR_SUFFIXES = tuple(sorted(_AR_PRONOUNS + _AR_PLURALS, key=len, reverse=True))
# What may still go once a pronoun is off: a plural, the -u of a verb before -na ("tu'tuna"),
# and the -t a ta marbuta becomes before a pronoun ("hawiyyati").
_AR_AFTER_PRONOUN = (*_AR_PLURALS, "\u0648", "\u062a")
_AR_NISBA = "\u064a"  # -i of a relative adjective, left once a plural is off ("su'udiyyin")
_MIN_STEM = 3
_AND_SO = ("\u0648", "\u0641")  # wa-, fa-


def is_arabic_word(word: str) -> bool:
    """True for a word in Arabic script (looked at by its first letter)."""
    return "\u0600" <= word[0] <= "\u06ff"


def _strip_suffix(word: str, suffixes: Sequence[str]) -> tuple[str, str]:
    for suffix in suffixes:
        if word.endswith(suffix) and len(word) - len(suffix) >= _MIN_STEM:
            return word[: -len(suffix)], suffix
    return word, ""


def _stem_arabic(word: str) -> str:
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= _MIN_STEM:
            word = word[len(prefix) :]
            break
    word = collapse_repeats(word)
    word, suffix = _strip_suffix(word, _AR_SUFFIXES)
    if suffix in _AR_PRONOUNS:
        word, suffix = _strip_suffix(word, _AR_AFTER_PRONOUN)
    if suffix in _AR_PLURALS:
        word, _ = _strip_suffix(word, (_AR_NISBA,))
    return word


def _stem_english(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def collapse_repeats(word: str) -> str:
    """One letter for a run of the same letter: doubled keys and stretched words ("shukraaan")."""
    return _REPEATS.sub(r"\1", word)


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    """The light stem of one normalised word (Arabic or English; other words as they are)."""
    if is_arabic_word(word):
        return _stem_arabic(word)
    word = collapse_repeats(word)
    if word.isascii() and word.isalpha():
        return _stem_english(word)
    return word


def words_of(text: str) -> list[str]:
    """The normalised words of `text`, an Arabic word glued to a Latin one split in two."""
    normalised = normalize_for_matching(text).translate(_DROP_HAMZA)
    return _SCRIPT_CHANGE.sub(" ", normalised).split()


def content_terms(text: str) -> list[str]:
    """The stemmed words of `text` that say what is asked (stop-words and 1-letter words out)."""
    return [term for term in map(content_term, words_of(text)) if term is not None]


@lru_cache(maxsize=8192)
def content_term(word: str) -> str | None:
    """The stem of one normalised word, or None for a stop-word or a one-letter word."""
    if len(word) < 2 or word in STOPWORDS or collapse_repeats(word) in STOPWORDS:
        return None
    if word[0] in _AND_SO and word[1:] in STOPWORDS:
        return None  # a stop-word after wa- or fa- ("fa-ma", "wa-kayf")
    stemmed = stem(word)
    return None if stemmed in STOPWORDS else stemmed


def char_ngrams(terms: Sequence[str], n: int = 3) -> list[str]:
    """The character n-grams of each term, with word-boundary marks ("<" and ">")."""
    grams: list[str] = []
    for term in terms:
        padded = f"<{term}>"
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch)[0] == "L" for ch in text)


def could_be_question(text: str) -> bool:
    """False for a message that cannot be a question: empty, one letter, or no letters at all
    (digits, emoji, punctuation)."""
    return len("".join(text.split())) > 1 and _has_letters(text)
