"""Free text (a name, a description), with its length counted in characters."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from bot.fields.base import FieldBase, Invalid, Labelled, Valid, not_below
from bot.fields.names import check_person_name
from bot.i18n import N_

__all__ = ["TEXT_MAX", "TEXT_MIN", "TextField", "check_length"]

TEXT_MIN = N_("Please write at least {min} characters.")
TEXT_MAX = N_("Please write at most {max} characters; your answer has {count}.")

_MARK = r"[\s\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
_EDGE_MARKS = re.compile(f"^{_MARK}+|{_MARK}+$")


def check_length(text: str, min_length: int, max_length: int) -> Valid | Invalid:
    """The text without its edge spaces and marks, if its length is within the limits."""
    # Phones put invisible bidi marks around text; they must not count as characters.
    value = _EDGE_MARKS.sub("", text)
    if len(value) < min_length:
        return Invalid(TEXT_MIN, {"min": min_length})
    if len(value) > max_length:
        return Invalid(TEXT_MAX, {"max": max_length, "count": len(value)})
    return Valid(value)


class TextField(FieldBase):
    """Free text (a name, a description) with length limits counted in characters."""

    kind: Literal["text"]
    min_length: int = Field(default=1, ge=0)
    max_length: int = Field(default=200, ge=1)
    # A person's name: letters only, never a question (see bot.fields.names).
    person_name: bool = False

    @field_validator("max_length")
    @classmethod
    def _lengths(cls, value: int, info: ValidationInfo) -> int:
        return not_below(value, info, "min_length")

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The text as written (lines kept), within the length limits."""
        result = check_length(text, self.min_length, self.max_length)
        if isinstance(result, Valid) and self.person_name:
            return check_person_name(result.value) or result
        return result
