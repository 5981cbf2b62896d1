"""FAQ retrieval: a free-text question in, the profile's FAQ entry out ("answer"), or up to
three candidates ("did you mean"), or an honest "unknown". Built once per profile (about 20 ms
for the example profile), about 1 ms per search; no I/O except reading ``faq_stopwords.txt``
at import.

Text to terms
-------------
Every text goes through :func:`bot.text.normalize_for_matching` first (diacritics, tatweel,
alef/hamza forms, alef maksura, ta marbuta, digit scripts, case, punctuation); a lone hamza is
dropped too (people leave it out or put it on the wrong seat). Then, per word:

1. **Stop-words** (``faq_stopwords.txt``: Arabic MSA and Gulf question words and particles,
   "I want / can I" fillers, greetings, courtesy and acknowledgement words, English function
   words) are dropped, so only the words that say *what* is asked are left, and a message made
   only of greetings has nothing left to match.
2. **Light stemming.** Arabic: one article/preposition prefix (al-, wal-, bil-, kal-, fal-,
   lil-) and one suffix (pronouns -ha, -hum, -kum, -na, -h, -i, -k; plurals -at, -un, -in,
   past -u) are stripped when at least three letters remain; after a pronoun a plural, a verb's
   -u or the -t of a ta marbuta may go too ("hawiyyati" -> like "al-hawiyya"), after a plural
   the nisba -i ("al-su'udiyyin" -> like "su'udi"). A run of one letter counts once (doubled
   keys, "shukraaan"). English: plural -s/-ies.

Why a stemmer *and* character n-grams: the stemmer joins the regular forms of a word (dialect
and MSA questions, with and without pronouns), precisely; character 3-grams of each stemmed
word (with word-boundary marks) keep most of a word with a typo, a missing or swapped letter
or an irregular form, which no light stemmer can; neither alone found all the test phrasings.
On top, an unknown word one edit away from a word of the index (or from a stop-word) is
corrected before word matching, by symmetric-delete lookup (:class:`_Speller`).

Ranking
-------
BM25 from ``rank_bm25`` (Okapi, with Lucene's always-positive IDF), in two channels — stemmed
words and their 3-grams, averaged with :data:`WORD_WEIGHT` — over three document sets:

- each question variant, of both languages, one document (weight 1): a short variant that
  says just what was asked beats a long one that merely contains the word;
- each entry's variants together as one set of words, no length normalisation
  (:data:`ENTRY_WEIGHT`): a question mixing the words of two variants of one entry;
- each answer text (:data:`ANSWER_WEIGHT`): a word found only in the answer.

An entry's score is the best of its documents.

Scores in 0..1
--------------
Raw BM25 depends on the corpus, so each channel's score is divided by the score the query
would get against a document identical to itself (same IDF, same length normalisation); words
the corpus has never seen count with the highest IDF. That reads as "how much of what the
query says this document says": 1.0 for an exact variant, near 0 for an unrelated message, the
same scale for every association's profile, so the thresholds mean the same thing everywhere.

Decision
--------
- "answer": the query's content words are exactly those of one entry's variant; or the top
  score is >= ``answer_threshold`` (0.5) and ahead of the second entry by ``margin`` (0.2);
- "suggest": otherwise, if the top score is >= ``suggest_threshold`` (0.35): up to three
  entries scoring at least that and at least :data:`SUGGEST_RATIO` of the top one;
- "unknown": below that, or an empty or one-letter message, digits only, or only
  stop-words and greetings.

On the example profile: every own variant is an answer (even without the exact rule its margin
to the next entry is >= 0.18); unrelated messages score <= 0.26; the tests' new phrasings (typos,
dialect) score 0.39-1.0 for their entry.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from rank_bm25 import BM25Okapi

from bot.profile import Profile
from bot.text import normalize_for_matching

__all__ = [
    "ANSWER_WEIGHT",
    "DEFAULT_ANSWER_THRESHOLD",
    "DEFAULT_MARGIN",
    "DEFAULT_SUGGEST_THRESHOLD",
    "STOPWORDS",
    "FaqIndex",
    "FaqMatch",
    "FaqResult",
    "content_terms",
]

DEFAULT_ANSWER_THRESHOLD = 0.5
DEFAULT_SUGGEST_THRESHOLD = 0.35
DEFAULT_MARGIN = 0.2
# Weight of the word channel; the 3-gram channel gets the rest.
WORD_WEIGHT = 0.5
# All of an entry's questions as one document (words of a query spread over two variants).
ENTRY_WEIGHT = 0.7
# An answer text matching the question counts for this much of a question variant matching it.
ANSWER_WEIGHT = 0.5
# "Did you mean" lists only entries scoring at least this fraction of the top one.
SUGGEST_RATIO = 0.6
MAX_SUGGESTIONS = 3

STOPWORDS_FILE = Path(__file__).with_name("faq_stopwords.txt")


# A lone hamza is often left out or put on the wrong seat ("tari'", "tari", "tari'e"): drop it.
_DROP_HAMZA = str.maketrans({"\u0621": None})
_REPEATS = re.compile(r"([^\W\d_])\1+")


def _load_stopwords(path: Path) -> frozenset[str]:
    words: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            words.update(normalize_for_matching(line).split())
    return frozenset(words)


STOPWORDS: frozenset[str] = _load_stopwords(STOPWORDS_FILE)

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


def _is_arabic_word(word: str) -> bool:
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
    word = _collapse_repeats(word)
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


def _collapse_repeats(word: str) -> str:
    """One letter for a run of the same letter: doubled keys and stretched words ("shukraaan")."""
    return _REPEATS.sub(r"\1", word)


def _stem(word: str) -> str:
    if _is_arabic_word(word):
        return _stem_arabic(word)
    word = _collapse_repeats(word)
    if word.isascii() and word.isalpha():
        return _stem_english(word)
    return word


def content_terms(text: str) -> list[str]:
    """The stemmed words of `text` that say what is asked (stop-words and 1-letter words out)."""
    words = normalize_for_matching(text).translate(_DROP_HAMZA).split()
    return [term for term in map(_content_term, words) if term is not None]


@lru_cache(maxsize=8192)
def _content_term(word: str) -> str | None:
    if len(word) < 2 or word in STOPWORDS or _collapse_repeats(word) in STOPWORDS:
        return None
    stem = _stem(word)
    return None if stem in STOPWORDS else stem


def _char_ngrams(terms: Sequence[str], n: int = 3) -> list[str]:
    grams: list[str] = []
    for term in terms:
        padded = f"<{term}>"
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch)[0] == "L" for ch in text)


_MIN_SPELL = 4


class _Speller:
    """Corrects a word the index has never seen to a known word one edit away.

    Symmetric-delete lookup (the SymSpell idea): every known word is filed under itself and
    under each string it leaves when one letter is deleted, so a word typed with one letter
    missing, extra, wrong or swapped with its neighbour shares a key with the word meant; the
    candidates are then checked to be really one edit away. A misspelt stop-word ("dose" for
    "does") is dropped like the stop-word. Only words of at least :data:`_MIN_SPELL` letters
    are corrected: one edit away from a short word (Arabic roots have three letters) is too
    often another real word.
    """

    def __init__(self, known: dict[str, int], stopwords: frozenset[str]) -> None:
        self._known = known  # word -> number of documents using it (the likelier on a tie)
        self._keys: dict[str, set[str]] = {}
        for word in (*known, *(w for w in stopwords if len(w) >= _MIN_SPELL)):
            for key in (word, *_deletions(word)):
                self._keys.setdefault(key, set()).add(word)

    def correct(self, word: str) -> str | None:
        """The known word meant, `word` itself if none, or None for a misspelt stop-word."""
        if word in self._known or len(word) < _MIN_SPELL:
            return word
        found: set[str] = set(self._keys.get(word, ()))
        for key in _deletions(word):
            found.update(self._keys.get(key, ()))
        found = {w for w in found if _one_edit(word, w)}
        if not found:
            return word
        known = [w for w in found if w in self._known]
        if not known:
            return None
        return min(known, key=lambda w: (-self._known[w], w))


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} if len(word) > 2 else set()


def _one_edit(a: str, b: str) -> bool:
    """True if `b` is `a` with one letter inserted, deleted, replaced or swapped with the next."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) != len(b):
        short, long_ = (a, b) if len(a) < len(b) else (b, a)
        return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    i, j = diff[0], diff[-1]
    return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]


class _BM25(BM25Okapi):
    """Okapi BM25 with Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)), which stays positive.

    Okapi's own IDF goes negative for a word in more than half of the documents and is then
    floored to a fraction of the average IDF, which is itself negative (so every score is) in
    the tiny FAQ of a new association; Lucene's form has neither problem.
    """

    def _calc_idf(self, nd: dict[str, int]) -> None:
        n = self.corpus_size
        self.idf = {word: _idf(n, freq) for word, freq in nd.items()}


def _idf(documents: int, containing: int) -> float:
    return math.log(1 + (documents - containing + 0.5) / (containing + 0.5))


class _Channel:
    """One BM25 index over one kind of token, with scores normalised to 0..1 (see above)."""

    def __init__(self, docs: list[list[str]], *, b: float) -> None:
        self.size = len(docs)
        self._bm25 = _BM25(docs, b=b) if any(docs) else None
        # A term found in no document gets the highest IDF there can be.
        self._unknown_idf = _idf(self.size, 0)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        bm25 = self._bm25
        if bm25 is None or not terms:
            return np.zeros(self.size)
        counts: dict[str, int] = {}
        for term in terms:
            counts[term] = counts.get(term, 0) + 1
        k1, b = bm25.k1, bm25.b
        length_norm = k1 * (1 - b + b * len(terms) / bm25.avgdl)
        ideal = 0.0
        for term, tf in counts.items():
            idf = bm25.idf.get(term, self._unknown_idf)
            ideal += idf * tf * (k1 + 1) / (tf + length_norm)
        if ideal <= 0:
            return np.zeros(self.size)
        raw = np.asarray(bm25.get_scores(list(counts)), dtype=float)
        return np.clip(raw / ideal, 0.0, 1.0)


@dataclass(frozen=True)
class FaqMatch:
    """One FAQ entry and how well it matches, 0..1 (1.0: the question is one of its variants)."""

    entry_id: str
    topic_id: str
    score: float


@dataclass(frozen=True)
class FaqResult:
    """What to do with a question.

    "answer": ``matches[0]`` is the answer; "suggest": up to three candidates, best first, for
    "did you mean"; "unknown": nothing good enough (say so and offer staff), ``matches`` empty.
    """

    kind: Literal["answer", "suggest", "unknown"]
    matches: tuple[FaqMatch, ...]


_UNKNOWN = FaqResult("unknown", ())


class _Docs:
    """One set of documents (question variants, whole entries or answers) and its BM25 index."""

    def __init__(self, weight: float, b: float) -> None:
        self.weight = weight  # what a perfect match in this set is worth
        self.b = b
        self.entry: list[int] = []  # entry position of each document
        self.language: list[str] = []  # "ar", "en", or "" for both
        self.words: list[list[str]] = []
        self.grams: list[list[str]] = []

    def add(self, entry: int, language: str, words: list[str], *, distinct: bool) -> None:
        grams = _char_ngrams(words)
        if distinct:
            words, grams = list(dict.fromkeys(words)), list(dict.fromkeys(grams))
        self.entry.append(entry)
        self.language.append(language)
        self.words.append(words)
        self.grams.append(grams)

    def build(self) -> None:
        self.word_channel = _Channel(self.words, b=self.b)
        self.gram_channel = _Channel(self.grams, b=self.b)

    def scores(self, terms: Sequence[str], grams: Sequence[str]) -> list[float]:
        words = self.word_channel.scores(terms)
        chars = self.gram_channel.scores(grams)
        combined = self.weight * (WORD_WEIGHT * words + (1 - WORD_WEIGHT) * chars)
        return [float(x) for x in combined]


class FaqIndex:
    """BM25 over the profile's FAQ (question variants in both languages, and answers)."""

    def __init__(
        self,
        profile: Profile,
        *,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not 0 <= suggest_threshold <= answer_threshold <= 1:
            raise ValueError("need 0 <= suggest_threshold <= answer_threshold <= 1")
        self.answer_threshold = answer_threshold
        self.suggest_threshold = suggest_threshold
        self.margin = margin
        self._entries: list[tuple[str, str]] = []  # (entry_id, topic_id)
        # Question variants: one document each, length-normalised, so that a short variant
        # saying just what was asked beats a long one that also contains the words.
        questions = _Docs(weight=1.0, b=0.75)
        # Each entry's variants together, as a set of words (no length or repetition effect):
        # the IDF-weighted share of the query's words found anywhere in the entry's questions,
        # for a question that mixes the words of two variants.
        entries = _Docs(weight=ENTRY_WEIGHT, b=0.0)
        answers = _Docs(weight=ANSWER_WEIGHT, b=0.75)
        for topic in profile.faq:
            for entry in topic.entries:
                position = len(self._entries)
                self._entries.append((entry.id, topic.id))
                everything: list[str] = []
                for language in ("ar", "en"):
                    for variant in entry.questions.get(language):
                        words = content_terms(variant)
                        questions.add(position, language, words, distinct=False)
                        everything += words
                    answer = content_terms(entry.answer.get(language))
                    answers.add(position, language, answer, distinct=False)
                entries.add(position, "", everything, distinct=True)
        self._doc_sets = (questions, entries, answers)
        for docs in self._doc_sets:
            docs.build()
        # A query saying exactly what one entry's variant says (same content words) is that
        # entry's question, however close another entry comes: the association wrote it so.
        exact: dict[tuple[str, ...], set[int]] = {}
        for position, words in zip(questions.entry, questions.words, strict=True):
            exact.setdefault(tuple(sorted(words)), set()).add(position)
        self._exact = {key: next(iter(found)) for key, found in exact.items() if len(found) == 1}
        known: dict[str, int] = {}
        for words in questions.words + answers.words:
            for word in set(words):
                known[word] = known.get(word, 0) + 1
        self._speller = _Speller(known, STOPWORDS)

    def search(self, text: str, language: str) -> FaqResult:
        """What to do with `text`; `language` ("ar"/"en") only breaks exact ties."""
        typed = _typed_terms(text)
        exact = self._exact.get(tuple(sorted(typed))) if typed else None
        if exact is not None:
            return FaqResult("answer", (FaqMatch(*self._entries[exact], score=1.0),))
        return self._decide(self._rank(typed, language))

    def rank(self, text: str, language: str) -> tuple[FaqMatch, ...]:
        """Every entry with its score for `text`, best first; empty if there is nothing to match
        (a greeting, one letter, digits only). For diagnostics and tuning thresholds."""
        return tuple(self._rank(_typed_terms(text), language))

    def _rank(self, typed: list[str], language: str) -> list[FaqMatch]:
        corrected = (self._speller.correct(term) for term in typed)
        terms = [term for term in corrected if term is not None]
        if not terms:
            return []
        grams = _char_ngrams(typed)  # the letters as typed: n-grams absorb typos themselves
        prefer = "en" if language.lower().startswith("en") else "ar"
        best = [0.0] * len(self._entries)
        in_language = [False] * len(self._entries)
        for docs in self._doc_sets:
            for i, score in enumerate(docs.scores(terms, grams)):
                entry = docs.entry[i]
                if score > best[entry] or (
                    score == best[entry] and score > 0 and docs.language[i] == prefer
                ):
                    best[entry] = score
                    in_language[entry] = docs.language[i] == prefer
        order = sorted(range(len(best)), key=lambda e: (-best[e], not in_language[e], e))
        return [FaqMatch(*self._entries[e], score=round(best[e], 4)) for e in order]

    def _decide(self, ranked: list[FaqMatch]) -> FaqResult:
        if not ranked:
            return _UNKNOWN
        top = ranked[0].score
        second = ranked[1].score if len(ranked) > 1 else 0.0
        if top >= self.answer_threshold and top - second >= self.margin:
            return FaqResult("answer", (ranked[0],))
        if top < self.suggest_threshold:
            return _UNKNOWN
        floor = max(self.suggest_threshold, top * SUGGEST_RATIO)
        return FaqResult("suggest", tuple(m for m in ranked[:MAX_SUGGESTIONS] if m.score >= floor))


def _typed_terms(text: str) -> list[str]:
    """The content terms of a message, or none if it cannot be a question (see `search`)."""
    if len("".join(text.split())) <= 1 or not _has_letters(text):
        return []
    return content_terms(text)
