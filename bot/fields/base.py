"""What every kind of field of the support-request form shares, and the answer it gives back.

A field kind is one pydantic class that describes the field in the profile (checked at start)
and knows its own business with the beneficiary: `validate_answer` reads a typed answer into
the value to store, or refuses it with a sentence that says how to fix it (the policies ask
staff to make sure the data is complete and valid at submission, so it is checked the moment it
arrives); `display` shows a stored value in the summary. Adding a kind is one class in its own
module and one line in the union of `bot.fields`.

Pure code, no I/O. Arabic characters are escapes on purpose: the project's hook rejects Arabic
literals in code; user-facing Arabic lives in the catalogs.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from pydantic import ValidationInfo

from bot.i18n import Translator
from bot.profile_types import Identifier, LocalizedText, StrictModel
from bot.text import normalize_digits

__all__ = ["NO_ANSWER", "FieldBase", "Invalid", "Labelled", "Valid", "clean_typed", "not_below"]

# What the summary shows for a question left unanswered (skipped, or no file sent).
NO_ANSWER = "\u2014"


@dataclass(frozen=True)
class Valid:
    """An accepted answer, normalised and JSON-serialisable, ready to be stored in the draft."""

    value: Any


@dataclass(frozen=True)
class Invalid:
    """A refused answer: `reason` is an English msgid with `{placeholders}` filled from params."""

    reason: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def render(self, t: Translator) -> str:
        """The reason in the beneficiary's language, dates in Hijri and Gregorian."""
        values: dict[str, Any] = {}
        for key, value in self.params.items():
            if isinstance(value, date):
                values[key] = t.format_date(value)
            elif isinstance(value, int | Decimal) and not isinstance(value, bool):
                values[key] = t.format_number(value)
            else:
                values[key] = value
        return t.gettext(self.reason).format(**values)


class Labelled(Protocol):
    """An option to choose: a field's own option, or one of the profile's request types."""

    @property
    def id(self) -> str: ...

    @property
    def label(self) -> LocalizedText: ...


class FieldBase(StrictModel):
    """One question of the form. Subclasses add `kind: Literal[...]` and their own settings.

    `request_types` is the profile's list of request types, for the kinds whose options come
    from it (`options_from: request_types`); the other kinds ignore it.
    """

    id: Identifier
    label: LocalizedText
    help: LocalizedText | None = None
    required: bool = True

    # Not `validate`: that is pydantic's own (deprecated) class method on every model.
    @abstractmethod
    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """Read one typed answer; `today` is the association's local date."""

    def display(self, value: Any, t: Translator, *, request_types: Sequence[Labelled] = ()) -> str:
        """A stored answer as the summary shows it, in the beneficiary's language."""
        if value is None or value == []:
            return NO_ANSWER
        return self.format_answer(value, t, request_types=request_types)

    def format_answer(
        self, value: Any, t: Translator, *, request_types: Sequence[Labelled] = ()
    ) -> str:
        """A given (non-empty) answer for the summary; the stored text itself unless overridden."""
        return str(value)

    def offered_options(self, request_types: Sequence[Labelled] = ()) -> list[Labelled]:
        """The options shown as buttons with the question; none for most kinds."""
        return []


def clean_typed(text: str) -> str:
    """Western digits, no invisible bidi/format marks, no surrounding spaces."""
    text = normalize_digits(unicodedata.normalize("NFKC", text))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


_Bound = TypeVar("_Bound")


def not_below(value: _Bound, info: ValidationInfo, lower_key: str) -> _Bound:
    """An upper bound must not be below the lower bound declared (and validated) before it."""
    lower: Any = info.data.get(lower_key)
    if value is not None and lower is not None and lower > value:
        raise ValueError(f"is {value}, below {lower_key} ({lower})")
    return value
