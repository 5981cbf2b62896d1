"""From a text to the terms the index compares, on both sides of the search.

The profile's texts (:meth:`Analyser.document`) and a beneficiary's message
(:meth:`Analyser.query`) go through the same steps: normalised words, lexicon phrases and
synonym groups as ``~name`` terms (:mod:`bot.faq.lexicon`), stop-words out, light stems
(:mod:`bot.faq.terms`). A message is also read against what the index knows (its vocabulary,
once :meth:`Analyser.learn` has seen every document), word by word, the first that works:

1. a known stem, or one of the lexicon: kept;
2. a Latin word: an English word one edit from a known one (a typo), else an Arabizi word
   (:mod:`bot.faq.arabizi`), else kept as it is;
3. an Arabic word: with a clitic off (wa-, fa-, bi-, li-, ka-: "li-taqdim", "bi-janub",
   "wa-lil-istifsar") a known stem; or two words typed without a space ("kayf-asajjil"); or
   one edit from a known
   word (:class:`bot.faq.speller.Speller`); else kept as it is.

The character 3-grams (the channel that absorbs typos) are those of the words as typed, or of
the ``~name`` for a word the lexicon knows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bot.faq.arabizi import ArabiziReader, is_arabizi_candidate
from bot.faq.lexicon import CONCEPT_MARK, Lexicon
from bot.faq.speller import MIN_SPELL, Speller
from bot.faq.terms import (
    ARABIZI_WORDS,
    STOPWORDS,
    char_ngrams,
    content_term,
    is_arabic_word,
    words_of,
)

__all__ = ["Analyser", "Terms"]

# One-letter clitics before a word (and their pairs), in normalised spelling; the article
# after them is the stemmer's.
_CLITICS = (
    "\u0648\u0628",  # wa-bi-
    "\u0648\u0644",  # wa-li-
    "\u0641\u0628",  # fa-bi-
    "\u0641\u0644",  # fa-li-
    "\u0648\u0643",  # wa-ka-
    "\u0648",  # wa-
    "\u0641",  # fa-
    "\u0628",  # bi-
    "\u0644",  # li-
    "\u0643",  # ka-
)
_MIN_REST = 3
_MIN_SPLIT = 6
# How much more a word of a question counts than a word of an answer, for Arabizi.
_ASKED_WEIGHT = 3
# How often a stop-word counts when an Arabizi skeleton fits several words.
_STOPWORD_WEIGHT = 3


@dataclass(frozen=True)
class Terms:
    """What a text says: its terms (``~name`` for the lexicon's), the character 3-grams, and
    its stems as written (the key of the exact-phrasing rule, synonyms not merged)."""

    terms: list[str]
    grams: list[str]
    stems: list[str]


class Analyser:
    """Terms of the profile's texts and of messages, with the lexicon's synonym groups."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon
        self._stems: Counter[str] = Counter()  # stems of the documents, by documents using them
        self._surface: Counter[str] = Counter()  # words of the documents as written
        self._known: frozenset[str] = frozenset()
        self._speller = Speller({}, STOPWORDS)
        self._arabizi = ArabiziReader(())

    def document(self, text: str, *, asked: bool = True) -> Terms:
        """The terms of one of the profile's texts: a question or a keyword (`asked`), or an
        answer (its words count less when an Arabizi word could be one of several)."""
        words = words_of(text)
        for word in words:
            self._surface[word] += _ASKED_WEIGHT if asked else 1
        terms: list[str] = []
        stems: list[str] = []
        for item in self.lexicon.phrases_in(words):
            if isinstance(item, str):
                terms.append(item)
                stems.append(item)
                continue
            term = content_term(item[0])
            if term is not None:
                stems.append(term)
                terms.append(self.lexicon.concept(term) or term)
        self._stems.update(set(stems))
        return Terms(terms, _grams(terms, stems), stems)

    def learn(self) -> None:
        """Take in the vocabulary of every document seen (once, after the last one)."""
        lexicon_stems = set(self.lexicon.words) | {s for p in self.lexicon.phrases for s in p}
        self._known = frozenset(self._stems) | lexicon_stems
        # The speller knows the words as written too (an article off), for a typo that no
        # longer looks like the stem ("mustanadat" for "mustanadat" with two letters swapped).
        known = dict(self._stems)
        for term in lexicon_stems:
            known.setdefault(term, 1)
        for word, count in self._surface.items():
            bare = _without_article(word)
            if len(bare) >= MIN_SPELL and content_term(bare) is not None:
                known.setdefault(bare, count)
        self._speller = Speller(known, STOPWORDS)
        self._arabizi = ArabiziReader(self._arabic_words())

    def _arabic_words(self) -> Iterable[tuple[str, int]]:
        for word, count in self._surface.items():
            if is_arabic_word(word):
                yield word, count
                stem = content_term(word)
                if stem is not None and stem != word:
                    yield stem, count
        for word in self.lexicon.surface:
            if is_arabic_word(word):
                yield word, 1
        for word in STOPWORDS:
            if is_arabic_word(word):
                yield word, _STOPWORD_WEIGHT

    def query(self, text: str) -> Terms:
        """The terms of a message, the 3-grams of its words as typed, its stems."""
        terms: list[str] = []
        typed_stems: list[str] = []
        stems: list[str] = []
        words = self._unglued(words_of(text))
        arabizi = _may_be_arabizi(words)
        for item in self.lexicon.phrases_in(words):
            if isinstance(item, str):
                terms.append(item)
                typed_stems.append(item)
                stems.append(item)
                continue
            for typed, meant in self._read(item[0], arabizi=arabizi):
                terms.append(self.lexicon.concept(meant) or meant)
                typed_stems.append(typed)
                stems.append(meant)
        return Terms(terms, _grams(terms, typed_stems), stems)

    def _read(self, word: str, *, arabizi: bool) -> list[tuple[str, str]]:
        """(stem as typed, stem meant) for each term in `word`: none for a stop-word."""
        term = content_term(word)
        if term is None:
            return []
        if term in self._known:
            return [(term, term)]
        if is_arabizi_candidate(word):
            return self._read_latin(word, term, arabizi=arabizi or not word.isalpha())
        if is_arabic_word(word):
            found = self._without_clitic(word)
            if found is not None:
                return found
        return self._spelt(term)

    def _spelt(self, term: str) -> list[tuple[str, str]]:
        """A typo corrected: the stem of the known word meant (none for a misspelt stop-word)."""
        meant = self._speller.correct(term)
        if meant is None:
            return []
        return [(term, content_term(meant) or meant)]

    def _read_latin(self, word: str, term: str, *, arabizi: bool) -> list[tuple[str, str]]:
        if word.isalpha():
            spelt = self._spelt(term)
            if not spelt or spelt[0][1] != term:
                return spelt
        arabic = self._arabizi.read(word) if arabizi else None
        if arabic is None:
            return [(term, term)]
        read = content_term(arabic)
        return [] if read is None else [(read, read)]

    def _without_clitic(self, word: str) -> list[tuple[str, str]] | None:
        for clitic in _CLITICS:
            rest = word[len(clitic) :]
            if word.startswith(clitic) and len(rest) >= _MIN_REST:
                term = content_term(rest)
                if term is not None and term in self._known:
                    return [(term, term)]
        return None

    def _unglued(self, words: list[str]) -> list[str]:
        """`words` with two words typed without a space between them (an unknown Arabic word
        that is a stop-word or a known word followed by another) as two."""
        out: list[str] = []
        for word in words:
            out.extend(self._two_words(word) or (word,))
        return out

    def _two_words(self, word: str) -> tuple[str, str] | None:
        if len(word) < _MIN_SPLIT or not is_arabic_word(word) or self._is_known(word):
            return None
        for i in range(2, len(word) - 1):
            left, right = word[:i], word[i:]
            if self._is_known(left) and self._is_known(right):
                return left, right
        return None

    def _is_known(self, word: str) -> bool:
        """A stop-word, or a word whose stem the index knows."""
        if word in STOPWORDS:
            return True
        term = content_term(word)
        return term is not None and term in self._known


def _may_be_arabizi(words: list[str]) -> bool:
    """Whether a message's Latin words may be Arabizi: some are Arabizi words or have Arabizi
    digits ("3ndi"), or none is an English function word ("favourite" in "what's your
    favourite colour" is English, not the Arabic "fawri")."""
    latin = [w for w in words if is_arabizi_candidate(w)]
    if any(w in ARABIZI_WORDS or not w.isalpha() for w in latin):
        return True
    return not any(w in STOPWORDS for w in latin)


def _grams(terms: list[str], typed: list[str]) -> list[str]:
    """3-grams of each word as typed, or of its ``~name`` when the lexicon knows it."""
    return char_ngrams(
        [term if term.startswith(CONCEPT_MARK) else t for term, t in zip(terms, typed, strict=True)]
    )


def _without_article(word: str) -> str:
    article = "\u0627\u0644"
    return word[2:] if word.startswith(article) and len(word) > 4 else word
