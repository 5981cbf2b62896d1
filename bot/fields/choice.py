"""One option out of a list (or out of the profile's request types), and the applicant's city."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from pydantic import field_validator, model_validator

from bot.fields.base import FieldBase, Invalid, Labelled, Valid
from bot.fields.text import TEXT_MIN, check_length
from bot.i18n import N_, Translator
from bot.profile_types import ChoiceOption
from bot.text import normalize_for_matching, parse_int

__all__ = [
    "CHOICE_RANGE",
    "CHOICE_UNKNOWN",
    "CITY_NAME",
    "ChoiceField",
    "CityField",
    "match_option",
]

CHOICE_UNKNOWN = N_("Please choose one of the options by its number.")
CHOICE_RANGE = N_("Please choose a number from 1 to {max}.")
CITY_NAME = N_("Please write the name of the city or town where you live.")

_CITY_MAX_LENGTH = 60


def _check_unique_option_ids(options: list[ChoiceOption] | None) -> list[ChoiceOption] | None:
    if options:
        seen: set[str] = set()
        for option in options:
            if option.id in seen:
                raise ValueError(f"option id {option.id!r} is used twice")
            seen.add(option.id)
    return options


def match_option(text: str, options: Sequence[Labelled]) -> Valid | Invalid:
    """By number (any digit script), id, or label in either language; then a unique part."""
    number = parse_int(text)
    if number is not None:
        if 1 <= number <= len(options):
            return Valid(options[number - 1].id)
        return Invalid(CHOICE_RANGE, {"max": len(options)})
    key = normalize_for_matching(text)
    if not key:
        return Invalid(CHOICE_UNKNOWN)
    names = [
        (
            option.id,
            {normalize_for_matching(n) for n in (option.id, option.label.ar, option.label.en)},
        )
        for option in options
    ]
    for option_id, keys in names:
        if key in keys:
            return Valid(option_id)
    # A line copied from the numbered list: "2. Financial aid".
    numbered = re.fullmatch(r"([0-9]+) (.+)", key)
    if numbered and 1 <= int(numbered[1]) <= len(options):
        option_id, keys = names[int(numbered[1]) - 1]
        if numbered[2] in keys:
            return Valid(option_id)
    # Part of one label only ("rent" for "Help with rent"); ambiguous parts are refused.
    if len(key) >= 3:
        hits = [option_id for option_id, keys in names if any(key in k for k in keys)]
        if len(hits) == 1:
            return Valid(hits[0])
    return Invalid(CHOICE_UNKNOWN)


class ChoiceField(FieldBase):
    """One option out of a fixed list, or out of the profile's request types."""

    kind: Literal["choice"]
    options: list[ChoiceOption] | None = None
    options_from: Literal["request_types"] | None = None

    @field_validator("options")
    @classmethod
    def _unique_options(cls, value: list[ChoiceOption] | None) -> list[ChoiceOption] | None:
        return _check_unique_option_ids(value)

    @model_validator(mode="after")
    def _one_source(self) -> ChoiceField:
        if (self.options is None) == (self.options_from is None):
            raise ValueError(
                "give exactly one of 'options' (a list) or 'options_from: request_types'"
            )
        if self.options is not None and not self.options:
            raise ValueError("'options' is empty")
        return self

    def choices(self, request_types: Sequence[Labelled] = ()) -> Sequence[Labelled]:
        """The field's own options, or the profile's request types for `options_from`."""
        if self.options is not None:
            return self.options
        if not request_types:
            raise ValueError(f"choice field {self.id!r} needs the profile's request types")
        return request_types

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """The chosen option's id: pressed, its number, or (part of) its label typed."""
        return match_option(text, self.choices(request_types))

    def format_answer(
        self, value: Any, t: Translator, *, request_types: Sequence[Labelled] = ()
    ) -> str:
        """The chosen option's label in the beneficiary's language."""
        labels = {option.id: option.label for option in self.choices(request_types)}
        return labels[value].get(t.language) if value in labels else str(value)

    def offered_options(self, request_types: Sequence[Labelled] = ()) -> list[Labelled]:
        """Every option, as a button."""
        return list(self.choices(request_types))


class CityField(FieldBase):
    """The applicant's city: free text, or one of `options` when the association lists them."""

    kind: Literal["city"]
    options: list[ChoiceOption] | None = None

    @field_validator("options")
    @classmethod
    def _unique_options(cls, value: list[ChoiceOption] | None) -> list[ChoiceOption] | None:
        return _check_unique_option_ids(value)

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """One of the listed cities, or a name with letters in it (spaces tidied)."""
        if self.options:
            return match_option(text, self.options)
        result = check_length(" ".join(text.split()), 2, _CITY_MAX_LENGTH)
        if isinstance(result, Valid) and not any(ch.isalpha() for ch in result.value):
            return Invalid(CITY_NAME)
        if isinstance(result, Invalid) and result.reason == TEXT_MIN:
            return Invalid(CITY_NAME)
        return result
