"""The FAQ index of one profile: every entry scored for a question, best first.

Three document sets (:class:`bot.faq.scoring.Documents`), an entry's score being the best of
its documents:

- each question variant, of both languages, one document (weight 1): a short variant that
  says just what was asked beats a long one that merely contains the word;
- each entry's variants together as one set of words, no length normalisation
  (:data:`ENTRY_WEIGHT`): a question mixing the words of two variants of one entry;
- each answer text (:data:`ANSWER_WEIGHT`): a word found only in the answer.

Before ranking, an unknown word one edit away from a word of the index (or from a stop-word)
is corrected (:class:`bot.faq.speller.Speller`); a query whose content words are exactly those
of one entry's variant is that entry's answer, however close another entry comes.

On the example profile: every own variant is an answer (even without the exact rule its margin
to the next entry is >= 0.18); unrelated messages score <= 0.26; the tests' new phrasings (typos,
dialect) score 0.39-1.0 for their entry.
"""

from __future__ import annotations

from bot.faq.decision import (
    DEFAULT_ANSWER_THRESHOLD,
    DEFAULT_MARGIN,
    DEFAULT_SUGGEST_THRESHOLD,
    FaqMatch,
    FaqResult,
    Thresholds,
    decide,
)
from bot.faq.scoring import Documents
from bot.faq.speller import Speller
from bot.faq.terms import STOPWORDS, char_ngrams, content_terms, typed_terms
from bot.profile import Profile

__all__ = ["ANSWER_WEIGHT", "ENTRY_WEIGHT", "FaqIndex"]

# All of an entry's questions as one document (words of a query spread over two variants).
ENTRY_WEIGHT = 0.7
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
    ) -> None:
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
        self._speller = Speller(known, STOPWORDS)

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
        typed = typed_terms(text)
        exact = self._exact.get(tuple(sorted(typed))) if typed else None
        if exact is not None:
            return FaqResult("answer", (FaqMatch(*self._entries[exact], score=1.0),))
        return decide(self._rank(typed, language), self.thresholds)

    def rank(self, text: str, language: str) -> tuple[FaqMatch, ...]:
        """Every entry with its score for `text`, best first; empty if there is nothing to match
        (a greeting, one letter, digits only). For diagnostics and tuning thresholds."""
        return tuple(self._rank(typed_terms(text), language))

    def _rank(self, typed: list[str], language: str) -> list[FaqMatch]:
        corrected = (self._speller.correct(term) for term in typed)
        terms = [term for term in corrected if term is not None]
        if not terms:
            return []
        grams = char_ngrams(typed)  # the letters as typed: n-grams absorb typos themselves
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
