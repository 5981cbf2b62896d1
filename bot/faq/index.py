"""The FAQ index of one profile: every entry scored for a question, best first.

Three document sets (:class:`bot.faq.scoring.Documents`), an entry's score being the best of
its documents (plus a little of its second best phrasing, :data:`SECOND_PHRASING_WEIGHT`):

- each question variant, of both languages, and each of the entry's ``keywords``, one
  document (weight 1): a short variant that says just what was asked beats a long one that
  merely contains the word;
- each entry's variants and keywords together as one set of words, no length normalisation
  (:data:`ENTRY_WEIGHT`): a question mixing the words of two variants of one entry;
- each answer text (:data:`ANSWER_WEIGHT`): a word found only in the answer.

Texts and messages become terms in :mod:`bot.faq.analysis` (synonyms of the lexicon, Arabizi,
clitics, typos); in a long message only the asked sentence is searched (:mod:`bot.faq.story`).
A query whose stems are exactly those of one entry's variant is that entry's answer, however
close another entry comes.

On the example profile: every own variant is an answer; on tests/data/faq_heldout.yaml (297
new answerable questions, 67 out of scope) 91% are answered with the right entry, 1% with a
wrong one, 1% of the out-of-scope ones answered (tests/test_faq_heldout.py).
"""

from __future__ import annotations

import numpy as np

from bot.faq.analysis import Analyser, Terms
from bot.faq.decision import (
    DEFAULT_ANSWER_THRESHOLD,
    DEFAULT_MARGIN,
    DEFAULT_SUGGEST_THRESHOLD,
    MAX_SUGGESTIONS,
    FaqMatch,
    FaqResult,
    Thresholds,
    decide,
)
from bot.faq.lexicon import Lexicon, shipped_lexicon
from bot.faq.scoring import Documents
from bot.faq.story import question_part
from bot.faq.terms import could_be_question
from bot.profile import Profile

__all__ = ["ANSWER_WEIGHT", "ENTRY_WEIGHT", "FaqIndex"]

# All of an entry's questions as one document (words of a query spread over two variants).
ENTRY_WEIGHT = 0.7
_NOTHING = Terms([], [], [])
SECOND_PHRASING_WEIGHT = 0.35
# An answer text matching the question counts for this much of a question variant matching it.
ANSWER_WEIGHT = 0.5


class FaqIndex:
    """BM25 over the profile's FAQ (question variants in both languages, and answers)."""

    def __init__(
        self,
        profile: Profile,
        *,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        suggest_threshold: float = DEFAULT_SUGGEST_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        lexicon: Lexicon | None = None,
    ) -> None:
        self._analyser = analyser = Analyser(shipped_lexicon() if lexicon is None else lexicon)
        self.thresholds = Thresholds(answer_threshold, suggest_threshold, margin)
        self._entries: list[tuple[str, str]] = []  # (entry_id, topic_id)
        # Question variants: one document each, length-normalised, so that a short variant
        # saying just what was asked beats a long one that also contains the words.
        questions = Documents(weight=1.0, b=0.75)
        # Each entry's variants together, as a set of words (no length or repetition effect):
        # the IDF-weighted share of the query's words found anywhere in the entry's questions,
        # for a question that mixes the words of two variants.
        entries = Documents(weight=ENTRY_WEIGHT, b=0.0)
        answers = Documents(weight=ANSWER_WEIGHT, b=0.75)
        for topic in profile.faq:
            for entry in topic.entries:
                position = len(self._entries)
                self._entries.append((entry.id, topic.id))
                everything: list[Terms] = []
                for language in ("ar", "en"):
                    for variant in entry.questions.get(language):
                        terms = analyser.document(variant)
                        questions.add(position, language, terms)
                        everything.append(terms)
                    answer = analyser.document(entry.answer.get(language), asked=False)
                    answers.add(position, language, answer)
                # A keyword says what one short question would: a variant of its own.
                for keyword in entry.keywords:
                    terms = analyser.document(keyword)
                    questions.add(position, "", terms)
                    everything.append(terms)
                entries.add_together(position, everything)
        self._doc_sets = (questions, entries, answers)
        for docs in self._doc_sets:
            docs.build()
        # A query saying exactly what one entry's variant says (same content words) is that
        # entry's question, however close another entry comes: the association wrote it so.
        exact: dict[tuple[str, ...], set[int]] = {}
        for position, stems in zip(questions.entry, questions.stems, strict=True):
            exact.setdefault(tuple(sorted(stems)), set()).add(position)
        self._exact = {key: next(iter(found)) for key, found in exact.items() if len(found) == 1}
        analyser.learn()

    @property
    def answer_threshold(self) -> float:
        return self.thresholds.answer

    @property
    def suggest_threshold(self) -> float:
        return self.thresholds.suggest

    @property
    def margin(self) -> float:
        return self.thresholds.margin

    def search(self, text: str, language: str) -> FaqResult:
        """What to do with `text`; `language` ("ar"/"en") only breaks exact ties."""
        query = self._query(text)
        exact = self._exact.get(tuple(sorted(query.stems))) if query.stems else None
        if exact is not None:
            return FaqResult("answer", (FaqMatch(*self._entries[exact], score=1.0),))
        if not any(docs.knows_any(query.terms, query.grams) for docs in self._doc_sets):
            return decide([], self.thresholds)  # nothing of it in any entry: scores all 0
        words = len(set(query.terms))
        ranked = self._rank(query, language, first=MAX_SUGGESTIONS + 1)
        return decide(ranked, self.thresholds, words=words)

    def rank(self, text: str, language: str) -> tuple[FaqMatch, ...]:
        """Every entry with its score for `text`, best first; empty if there is nothing to match
        (a greeting, one letter, digits only). For diagnostics and tuning thresholds."""
        return tuple(self._rank(self._query(text), language, first=len(self._entries)))

    def _query(self, text: str) -> Terms:
        if not could_be_question(text):
            return _NOTHING
        question = question_part(text)
        query = self._analyser.query(question)
        if not query.terms and question != text:
            query = self._analyser.query(text)
        return query

    def _rank(self, query: Terms, language: str, *, first: int) -> list[FaqMatch]:
        """The `first` best entries for `query`, best first (ties: the beneficiary's language,
        then the profile's order)."""
        terms, grams = query.terms, query.grams
        if not terms:
            return []
        prefer = "en" if language.lower().startswith("en") else "ar"
        count = len(self._entries)
        best = np.zeros(count)
        scored = []
        for docs in self._doc_sets:
            scores = docs.scores(terms, grams)
            np.maximum.at(best, docs.entries, scores)
            scored.append((docs, scores))
        # An entry is "in the language" if a document in it reaches its best score.
        in_language = np.zeros(count, dtype=bool)
        for docs, scores in scored:
            reaching = (scores == best[docs.entries]) & (scores > 0) & docs.in_language[prefer]
            in_language[docs.entries[reaching]] = True
        # Two phrasings of one entry saying what was asked are more evidence than one: the
        # second best phrasing counts a little (siblings such as opening hours / after hours
        # share a word; the entry about it says it in several of its phrasings).
        questions, scores = scored[0]
        second = _second_best(questions.entries, scores, count)
        has_second = second >= 0
        best[has_second] = (1 - SECOND_PHRASING_WEIGHT) * best[has_second] + (
            SECOND_PHRASING_WEIGHT * np.minimum(second[has_second], best[has_second])
        )
        best = np.round(best, 4)
        order = np.lexsort((np.arange(count), ~in_language, -best))[:first]
        return [self._match(int(e), float(best[e])) for e in order]

    def _match(self, position: int, score: float) -> FaqMatch:
        entry_id, topic_id = self._entries[position]
        return FaqMatch(entry_id, topic_id, score)


def _second_best(entries: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """Each entry's second best score among its documents (-1 for an entry with one)."""
    order = np.lexsort((scores, entries))
    by_entry, by_score = entries[order], scores[order]
    second = np.full(count, -1.0)
    last = np.flatnonzero(np.r_[by_entry[1:] != by_entry[:-1], True])
    previous = last - 1
    same = (previous >= 0) & (by_entry[np.maximum(previous, 0)] == by_entry[last])
    second[by_entry[last[same]]] = by_score[previous[same]]
    return second
