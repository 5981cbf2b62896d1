"""Synonyms: words that mean the same thing to the FAQ search, read from ``lexicon.txt``.

A new wording rarely repeats the profile's words: "al-watha'iq" for "al-awraq" (documents),
"wafid" for "muqim" (resident), "expat" for both. Each group of the lexicon becomes one term
(``~name``) on both sides, in the index and in the message, so synonyms match exactly and an
English word in an Arabic message counts like its Arabic equivalent instead of diluting it.
A group entry of several words ("ghayr sa'udi", "working hours") is a phrase: matched on the
words' stems in order, before stop-words are dropped (so "ghayr", not, still counts there).

A profile extends it per FAQ entry with ``keywords`` (bot/faq/index.py); the shipped file is
the vocabulary of a charity's beneficiary relations, Arabic (MSA and Gulf) and English.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path

from bot.faq.terms import stem, words_of

__all__ = ["CONCEPT_MARK", "LEXICON_FILE", "Lexicon", "shipped_lexicon"]

LEXICON_FILE = Path(__file__).with_name("lexicon.txt")
CONCEPT_MARK = "~"
MAX_PHRASE = 4


class Lexicon:
    """Stems and phrases of stems mapped to the name of their group (a ``~name`` term)."""

    def __init__(self, groups: Mapping[str, Sequence[str]]) -> None:
        self.words: dict[str, str] = {}  # stem -> ~name
        self.phrases: dict[tuple[str, ...], str] = {}  # stems -> ~name
        self.surface: set[str] = set()  # every word as written (normalised), for Arabizi
        for name, entries in groups.items():
            concept = CONCEPT_MARK + name
            for entry in entries:
                words = words_of(entry)
                self.surface.update(words)
                stems = tuple(stem(w) for w in words)
                if len(stems) == 1:
                    self.words.setdefault(stems[0], concept)
                elif 1 < len(stems) <= MAX_PHRASE:
                    self.phrases.setdefault(stems, concept)
        self._longest = max((len(p) for p in self.phrases), default=1)

    @classmethod
    def read(cls, path: Path) -> Lexicon:
        groups: dict[str, list[str]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, entries = line.partition(":")
            groups.setdefault(name.strip(), []).extend(
                e.strip() for e in entries.split(",") if e.strip()
            )
        return cls(groups)

    def concept(self, term: str) -> str | None:
        """The group of a stemmed word, if it has one."""
        return self.words.get(term)

    def phrases_in(self, words: Sequence[str]) -> list[str | tuple[str]]:
        """`words` with every phrase of the lexicon replaced by its ``~name`` (longest first);
        the other words come back as 1-tuples, to be looked at one by one."""
        if not self.phrases:
            return [(w,) for w in words]
        stems = [stem(w) for w in words]
        out: list[str | tuple[str]] = []
        i = 0
        while i < len(words):
            for n in range(min(self._longest, len(words) - i), 1, -1):
                concept = self.phrases.get(tuple(stems[i : i + n]))
                if concept is not None:
                    out.append(concept)
                    i += n
                    break
            else:
                out.append((words[i],))
                i += 1
        return out


@lru_cache(maxsize=1)
def shipped_lexicon() -> Lexicon:
    """The lexicon shipped with Tawasul (``lexicon.txt``), read once."""
    return Lexicon.read(LEXICON_FILE)
