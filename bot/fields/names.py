"""A person's name typed as an answer: letters only, and never a question.

The form's first question asks for the four-part name; a beneficiary who does not yet trust
the form often answers it with their ID number or with a question ("how do I apply?"). Both
would be stored as a name and shown to staff, so they are refused with a sentence that says
why. Nothing here counts the parts: people write compound names ("Abd al-Rahman") as one or
two words, and staff check the name against the ID anyway.

Pure code, no I/O.
"""

from __future__ import annotations

import unicodedata

from bot.fields.base import Invalid, clean_typed
from bot.i18n import N_, keywords
from bot.text import normalize_for_matching

__all__ = ["NAME_DIGITS", "NAME_NOT_A_NAME", "NOT_A_NAME_START", "check_person_name"]

NAME_DIGITS = N_("A name cannot contain digits. Please write your full name in letters.")
NAME_NOT_A_NAME = N_(
    "This does not look like a name. Please write only your full name here; you can ask "
    "your question once the application is done, or write “cancel” to stop."
)
# Translators: comma-separated words (and two-word phrases) a question or a wish starts
# with, which no name starts with.
NOT_A_NAME_START = N_(
    "what, how, when, where, why, who, which, can, could, is, are, do, does, please, "
    "i want, i need, i would like"
)
# More words than this is a sentence, not a name (the longest names have about seven).
MAX_NAME_WORDS = 8
# Punctuation a name may carry: hyphen, apostrophes, dot (initials), Arabic comma-free.
_NAME_MARKS = frozenset("-'\u2019.")


def _is_name_character(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in "LM" or ch.isspace() or ch in _NAME_MARKS


def check_person_name(text: str) -> Invalid | None:
    """Why `text` cannot be a person's name, or None when it can be one."""
    cleaned = clean_typed(text)
    if any(ch.isdigit() for ch in cleaned):
        return Invalid(NAME_DIGITS)
    words = normalize_for_matching(cleaned).split()
    starts = keywords(NOT_A_NAME_START)
    if (
        not all(_is_name_character(ch) for ch in cleaned)
        or len(words) > MAX_NAME_WORDS
        or (words and (words[0] in starts or " ".join(words[:2]) in starts))
        or " ".join(words[:3]) in starts
    ):
        return Invalid(NAME_NOT_A_NAME)
    return None
