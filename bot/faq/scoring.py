"""BM25 scores in 0..1 over one set of FAQ documents (question variants, entries or answers).

BM25 from ``rank_bm25`` (Okapi, with Lucene's always-positive IDF), in two channels — stemmed
words and their 3-grams, averaged with :data:`WORD_WEIGHT`.

Raw BM25 depends on the corpus, so each channel's score is divided by the score the query
would get against a document identical to itself (same IDF, same length normalisation); words
the corpus has never seen count with the highest IDF. That reads as "how much of what the
query says this document says": 1.0 for an exact variant, near 0 for an unrelated message, the
same scale for every association's profile, so the thresholds mean the same thing everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rank_bm25 import BM25Okapi

from bot.faq.analysis import Terms

__all__ = ["WORD_WEIGHT", "Documents"]

# Weight of the word channel; the 3-gram channel gets the rest.
WORD_WEIGHT = 0.5


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

    def __init__(self, docs: list[list[str]], groups: list[int], *, b: float) -> None:
        self.size = len(docs)
        self._bm25 = _BM25(docs, b=b) if any(docs) else None
        # IDF counts entries, not documents: a word in all seven phrasings of one entry is as
        # telling of it as a word in one phrasing, not seven times less.
        entries = len(set(groups))
        if self._bm25 is not None:
            containing: dict[str, set[int]] = {}
            for doc, group in zip(docs, groups, strict=True):
                for term in doc:
                    containing.setdefault(term, set()).add(group)
            self._bm25.idf = {t: _idf(entries, len(g)) for t, g in containing.items()}
        # A term found in no document gets the highest IDF there can be.
        self._unknown_idf = _idf(entries, 0)

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


class Documents:
    """One set of documents (question variants, whole entries or answers) and its BM25 index.

    `weight` is what a perfect match in this set is worth; `b` is BM25's length normalisation
    (0 for a set of words whose length says nothing).
    """

    def __init__(self, weight: float, b: float) -> None:
        self.weight = weight
        self.b = b
        self.entry: list[int] = []  # entry position of each document
        self.language: list[str] = []  # "ar", "en", or "" for both
        self.words: list[list[str]] = []
        self.grams: list[list[str]] = []
        self.stems: list[list[str]] = []

    def add(self, entry: int, language: str, terms: Terms) -> None:
        """One document of `entry`."""
        self.entry.append(entry)
        self.language.append(language)
        self.words.append(terms.terms)
        self.grams.append(terms.grams)
        self.stems.append(terms.stems)

    def add_together(self, entry: int, parts: Sequence[Terms]) -> None:
        """One document of all `parts`, as a set: each term and 3-gram once, any language."""
        words = [t for part in parts for t in part.terms]
        grams = [g for part in parts for g in part.grams]
        stems = [s for part in parts for s in part.stems]
        merged = Terms(list(dict.fromkeys(words)), list(dict.fromkeys(grams)), stems)
        self.add(entry, "", merged)

    def build(self) -> None:
        """Index what was added (once, after the last `add`)."""
        self.word_channel = _Channel(self.words, self.entry, b=self.b)
        self.gram_channel = _Channel(self.grams, self.entry, b=self.b)

    def scores(self, terms: Sequence[str], grams: Sequence[str]) -> list[float]:
        """Each document's weighted score, 0..weight, for the query's terms and 3-grams."""
        words = self.word_channel.scores(terms)
        chars = self.gram_channel.scores(grams)
        combined = self.weight * (WORD_WEIGHT * words + (1 - WORD_WEIGHT) * chars)
        return [float(x) for x in combined]
