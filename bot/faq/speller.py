"""Spelling correction of a word the FAQ index has never seen (one edit away from a known one).

Symmetric-delete lookup (the SymSpell idea): every known word is filed under itself and under
each string it leaves when one letter is deleted, so a word typed with one letter missing,
extra, wrong or swapped with its neighbour shares a key with the word meant; the candidates
are then checked to be really one edit away.
"""

from __future__ import annotations

__all__ = ["MIN_SPELL", "Speller"]

MIN_SPELL = 4


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
