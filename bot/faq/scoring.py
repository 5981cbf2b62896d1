"""BM25 scores in 0..1 over one set of FAQ documents (question variants, entries or answers).

Okapi BM25 (with Lucene's always-positive IDF, counted over entries), in two channels —
terms and their 3-grams, averaged with :data:`WORD_WEIGHT`.

Raw BM25 depends on the corpus, so each channel's score is divided by the score the query
would get against a document identical to itself (same IDF, same length normalisation); words
the corpus has never seen count with the highest IDF. That reads as "how much of what the
query says this document says": 1.0 for an exact variant, near 0 for an unrelated message, the
same scale for every association's profile, so the thresholds mean the same thing everywhere.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from bot.faq.analysis import Terms

__all__ = ["WORD_WEIGHT", "Documents"]

# Weight of the word channel; the 3-gram channel gets the rest.
WORD_WEIGHT = 0.5


# Okapi BM25's usual term-frequency saturation.
K1 = 1.5


def _idf(documents: int, containing: int) -> float:
    """Lucene's IDF, log(1 + (N - n + 0.5) / (n + 0.5)), which stays positive.

    Okapi's own IDF goes negative for a word in more than half of the documents and is then
    floored to a fraction of the average IDF, which is itself negative (so every score is) in
    the tiny FAQ of a new association; Lucene's form has neither problem.
    """
    return math.log(1 + (documents - containing + 0.5) / (containing + 0.5))


class _Channel:
    """One BM25 index over one kind of token, with scores normalised to 0..1 (see above).

    Postings (for each term, the documents holding it and how often) in numpy arrays, so a
    search costs the query's postings, not a pass over every document per term: a few
    thousand documents (500 entries) stay well under a millisecond per channel.
    """

    def __init__(self, docs: list[list[str]], groups: list[int], *, b: float) -> None:
        self.size = len(docs)
        self.b = b
        lengths = np.array([len(doc) for doc in docs], dtype=float)
        total = float(lengths.sum()) if self.size else 0.0
        self.avgdl = total / self.size if total else 0.0
        self._doc_norm = K1 * (1 - b + b * lengths / self.avgdl) if self.avgdl else lengths
        found: dict[str, tuple[list[int], list[int]]] = {}
        containing: dict[str, set[int]] = {}
        for position, (doc, group) in enumerate(zip(docs, groups, strict=True)):
            for term, count in Counter(doc).items():
                where, counts = found.setdefault(term, ([], []))
                where.append(position)
                counts.append(count)
                containing.setdefault(term, set()).add(group)
        self._postings = {
            term: (np.array(where, dtype=np.intp), np.array(counts, dtype=float))
            for term, (where, counts) in found.items()
        }
        # IDF counts entries, not documents: a word in all seven phrasings of one entry is as
        # telling of it as a word in one phrasing, not seven times less.
        entries = len(set(groups))
        self.idf = {term: _idf(entries, len(g)) for term, g in containing.items()}
        # A term found in no document gets the highest IDF there can be.
        self._unknown_idf = _idf(entries, 0)

    def knows_any(self, terms: Sequence[str]) -> bool:
        """Whether any of `terms` is in some document (else every score is 0)."""
        return any(term in self._postings for term in terms)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        if not self.avgdl or not terms:
            return np.zeros(self.size)
        counts = Counter(terms)
        length_norm = K1 * (1 - self.b + self.b * len(terms) / self.avgdl)
        ideal = 0.0
        for term, tf in counts.items():
            idf = self.idf.get(term, self._unknown_idf)
            ideal += idf * tf * (K1 + 1) / (tf + length_norm)
        if ideal <= 0:
            return np.zeros(self.size)
        raw = np.zeros(self.size)
        for term in counts:
            posting = self._postings.get(term)
            if posting is not None:
                where, freq = posting
                raw[where] += self.idf[term] * freq * (K1 + 1) / (freq + self._doc_norm[where])
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
        self.entries = np.array(self.entry, dtype=np.intp)
        self.in_language = {
            language: np.array([lang == language for lang in self.language], dtype=bool)
            for language in ("ar", "en")
        }

    def knows_any(self, terms: Sequence[str], grams: Sequence[str]) -> bool:
        """Whether any word or 3-gram of a query is in one of these documents."""
        return self.word_channel.knows_any(terms) or self.gram_channel.knows_any(grams)

    def scores(self, terms: Sequence[str], grams: Sequence[str]) -> np.ndarray:
        """Each document's weighted score, 0..weight, for the query's terms and 3-grams."""
        words = self.word_channel.scores(terms)
        chars = self.gram_channel.scores(grams)
        return self.weight * (WORD_WEIGHT * words + (1 - WORD_WEIGHT) * chars)
