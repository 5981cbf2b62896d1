"""FAQ search: a free-text question in, the profile's FAQ entry out ("answer"), or up to
three candidates ("did you mean"), or an honest "unknown".

A search engine of its own, in the core so that handlers, the worker and the coming console
share it; no I/O except reading its data files (shipped with it). Built once per profile,
a search in about a millisecond (``bench/faq.py``). One module per job:

- :mod:`bot.faq.terms`: normalising, stop-words (``stopwords.txt``, ``arabizi_words.txt``),
  the light stemmer, character n-grams;
- :mod:`bot.faq.lexicon`: synonyms and phrases as one term (``lexicon.txt``);
- :mod:`bot.faq.arabizi`: Arabic typed in Latin letters read as Arabic words;
- :mod:`bot.faq.speller`: correcting a typo one edit away from a known word;
- :mod:`bot.faq.story`: the asked sentence of a long message;
- :mod:`bot.faq.analysis`: a text or a message to the terms the index compares;
- :mod:`bot.faq.scoring`: BM25 in two channels with scores in 0..1;
- :mod:`bot.faq.index`: the profile's index and the ranking of its entries;
- :mod:`bot.faq.decision`: answer / did you mean / don't know.
"""

from __future__ import annotations

from bot.faq.decision import (
    DEFAULT_ANSWER_THRESHOLD,
    DEFAULT_MARGIN,
    DEFAULT_SUGGEST_THRESHOLD,
    FaqMatch,
    FaqResult,
)
from bot.faq.index import ANSWER_WEIGHT, FaqIndex
from bot.faq.terms import STOPWORDS, content_terms

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
