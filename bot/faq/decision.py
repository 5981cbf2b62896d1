"""The decision on a ranked list: answer, "did you mean", or an honest "I don't know".

- "answer": the top score is >= ``answer_threshold`` (0.45) and ahead of the second entry by
  ``margin`` (0.12; :data:`ONE_WORD_MARGIN`, 0.2, for a one-word question, which says less)
  (the index also answers a query whose stems are exactly those of one entry's variant,
  before ranking);
- "suggest": otherwise, if the top score is >= ``suggest_threshold`` (0.35): up to three
  entries scoring at least that and at least :data:`SUGGEST_RATIO` of the top one;
- "unknown": below that, or nothing to rank (an empty or one-letter message, digits only, or
  only stop-words and greetings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_ANSWER_THRESHOLD",
    "DEFAULT_MARGIN",
    "DEFAULT_SUGGEST_THRESHOLD",
    "MAX_SUGGESTIONS",
    "ONE_WORD_MARGIN",
    "SUGGEST_RATIO",
    "UNKNOWN",
    "FaqMatch",
    "FaqResult",
    "Thresholds",
    "decide",
]

DEFAULT_ANSWER_THRESHOLD = 0.45
DEFAULT_SUGGEST_THRESHOLD = 0.35
DEFAULT_MARGIN = 0.12
# A one-word question says less: its best entry must be further ahead of the next one.
ONE_WORD_MARGIN = 0.2
# "Did you mean" lists only entries scoring at least this fraction of the top one.
SUGGEST_RATIO = 0.6
MAX_SUGGESTIONS = 3


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


UNKNOWN = FaqResult("unknown", ())


@dataclass(frozen=True)
class Thresholds:
    """When a score is good enough to answer, or to suggest (see the module's docstring)."""

    answer: float = DEFAULT_ANSWER_THRESHOLD
    suggest: float = DEFAULT_SUGGEST_THRESHOLD
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if not 0 <= self.suggest <= self.answer <= 1:
            raise ValueError("need 0 <= suggest_threshold <= answer_threshold <= 1")


def decide(ranked: Sequence[FaqMatch], thresholds: Thresholds, *, words: int = 2) -> FaqResult:
    """Answer, suggest or "unknown" for every entry's match, best first, for a question of
    `words` content words."""
    if not ranked:
        return UNKNOWN
    top = ranked[0].score
    second = ranked[1].score if len(ranked) > 1 else 0.0
    margin = thresholds.margin if words > 1 else max(thresholds.margin, ONE_WORD_MARGIN)
    if top >= thresholds.answer and top - second >= margin:
        return FaqResult("answer", (ranked[0],))
    if top < thresholds.suggest:
        return UNKNOWN
    floor = max(thresholds.suggest, top * SUGGEST_RATIO)
    return FaqResult("suggest", tuple(m for m in ranked[:MAX_SUGGESTIONS] if m.score >= floor))
