"""Spelling correction of a word the FAQ index has never seen (one edit away from a known one).

Symmetric-delete lookup (the SymSpell idea): every known word is filed under itself and under
each string it leaves when one letter is deleted, so a word typed with one letter missing,
extra, wrong or swapped with its neighbour shares a key with the word meant; the candidates
are then checked to be really one edit away.
"""

from __future__ import annotations

from itertools import pairwise

__all__ = ["MIN_SPELL", "SHORT_WORD", "Speller"]

MIN_SPELL = 4
# A word shorter than this is corrected only for a letter left out or two letters swapped:
# Arabic words of four letters are mostly a three-letter root and one more letter, and one
# letter changed or dropped is very often another real word ("aktub", write, and "maktab",
# office; "mudir", manager, and "madin(a)", city; "aklim", talk to, and "akl", food).
SHORT_WORD = 5


class Speller:
    """Corrects a word the index has never seen to a known word one edit away.

    A misspelt stop-word ("dose" for "does") is dropped like the stop-word. Only words of at
    least :data:`MIN_SPELL` letters are corrected: one edit away from a short word (Arabic
    roots have three letters) is too often another real word.
    """

    def __init__(self, known: dict[str, int], stopwords: frozenset[str]) -> None:
        self._known = known  # word -> number of documents using it (the likelier on a tie)
        self._keys: dict[str, set[str]] = {}
        for word in (*known, *(w for w in stopwords if len(w) >= MIN_SPELL)):
            for key in (word, *_deletions(word)):
                self._keys.setdefault(key, set()).add(word)

    def correct(self, word: str) -> str | None:
        """The known word meant, `word` itself if none, or None for a misspelt stop-word."""
        if word in self._known or len(word) < MIN_SPELL:
            return word
        found: set[str] = set(self._keys.get(word, ()))
        for key in _deletions(word):
            found.update(self._keys.get(key, ()))
        found = {w for w in found if _one_edit(word, w)}
        if len(word) < SHORT_WORD:
            found = {w for w in found if len(w) == len(word) + 1 or _swapped_or_alike(word, w)}
        if not found:
            return word
        known = [w for w in found if w in self._known]
        if not known:
            return None
        return min(known, key=lambda w: (-self._known[w], w))


# Keyboard rows (the Arabic 101 layout, normalised as messages are, and QWERTY): a letter typed
# for another is its neighbour on the keyboard, or one that sounds alike. Any other letter
# makes another word, not a typo ("musta'mal", used, is not "musta'jal", urgent).
_ROWS = (
    "\u0636\u0635\u062b\u0642\u0641\u063a\u0639\u0647\u062e\u062d\u062c\u062f",
    "\u0634\u0633\u064a\u0628\u0644\u0627\u062a\u0646\u0645\u0643\u0637",
    "\u064a\u0621\u0648\u0631 \u064a\u0647\u0648\u0632\u0638",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
)
_SOUND_ALIKE = (
    "\u0636\u0638\u062f",  # dad, dha, dal
    "\u0630\u0632\u0638\u062f",  # dhal, zay, dha, dal
    "\u0633\u0635\u062b",  # sin, sad, tha
    "\u062a\u0637",  # ta, ta'
    "\u0647\u062d",  # heh, ha
    "\u0642\u063a\u0643",  # qaf, ghain, kaf
    "aeiouy",  # English vowels, spelt as heard
    "sc",
    "ck",
)


def _neighbours() -> dict[str, set[str]]:
    near: dict[str, set[str]] = {}

    def link(x: str, y: str) -> None:
        if x != " " and y != " " and x != y:
            near.setdefault(x, set()).add(y)
            near.setdefault(y, set()).add(x)

    for above, below in ((0, 1), (1, 2), (3, 4), (4, 5)):
        upper, lower = _ROWS[above], _ROWS[below]
        for i, x in enumerate(upper):
            for j in (i - 1, i):
                if 0 <= j < len(lower):
                    link(x, lower[j])
    for keys in _ROWS:
        for x, y in pairwise(keys):
            link(x, y)
    for group in _SOUND_ALIKE:
        for x in group:
            for y in group:
                link(x, y)
    return near


_NEAR = _neighbours()


def _near(typed: str, meant: str) -> bool:
    return meant in _NEAR.get(typed, ())


def _sound_alike(typed: str, meant: str) -> bool:
    return any(typed in group and meant in group for group in _SOUND_ALIKE)


def _swapped_or_alike(typed: str, meant: str) -> bool:
    """Same length: two neighbours swapped, or one letter spelt as it sounds (dhal as dal)."""
    if len(typed) != len(meant):
        return False
    diff = [i for i in range(len(typed)) if typed[i] != meant[i]]
    if len(diff) == 1:
        return _sound_alike(typed[diff[0]], meant[diff[0]])
    return sorted(typed) == sorted(meant)


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
        return _near(a[diff[0]], b[diff[0]])
    i, j = diff[0], diff[-1]
    return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
