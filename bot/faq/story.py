"""The question inside a long message.

Beneficiaries often tell their situation first ("I am a mother of five, my husband died two
years ago ... what services do you offer?"). Every word of the story counts against the match,
so the story drowns the question. In a long message, the sentence that ends with a question
mark is the question; without one, the message is searched whole.
"""

from __future__ import annotations

import re

__all__ = ["LONG_MESSAGE_WORDS", "question_part"]

# Below this many words a message is searched whole: it is the question.
LONG_MESSAGE_WORDS = 12
_SENTENCE = re.compile(r"[^.!?\u061f\n]+[.!?\u061f\n]*")
_QUESTION_MARKS = ("?", "\u061f")


def question_part(text: str) -> str:
    """The last sentence of a long `text` that is asked (ends with "?"), else `text` itself."""
    if len(text.split()) < LONG_MESSAGE_WORDS:
        return text
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    if len(sentences) < 2:
        return text
    asked = [s for s in sentences if s.rstrip(".!\n ").endswith(_QUESTION_MARKS)]
    return asked[-1] if asked else text
