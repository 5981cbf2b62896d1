"""The kinds of field of the support-request form ("talab da'm mustafid"), one class each.

Each kind is a pydantic class that describes its field in the profile and knows how to read a
typed answer (`validate_answer`) and show a stored one (`display`); see `bot.fields.base`.
`FormField` is the profile's discriminated union of them, keyed by `kind`. To add a kind, write
its class in a module of this package and add it to `FormField`: `FIELD_CLASSES` and
`FIELD_KINDS` (the `kind:` values the profile accepts, named in its error messages too) are
read from the union.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from bot.fields.base import NO_ANSWER, FieldBase, Invalid, Labelled, Valid
from bot.fields.choice import ChoiceField, CityField
from bot.fields.dates import DateField
from bot.fields.media import MediaField
from bot.fields.national_id import NationalIdField
from bot.fields.numbers import IntegerField, MoneyField
from bot.fields.phone import PhoneField
from bot.fields.text import TextField

__all__ = [
    "FIELD_CLASSES",
    "FIELD_KINDS",
    "NO_ANSWER",
    "ChoiceField",
    "CityField",
    "DateField",
    "FieldBase",
    "FormField",
    "IntegerField",
    "Invalid",
    "Labelled",
    "MediaField",
    "MoneyField",
    "NationalIdField",
    "PhoneField",
    "TextField",
    "Valid",
    "kind_of",
]

FormField = Annotated[
    TextField
    | NationalIdField
    | DateField
    | PhoneField
    | ChoiceField
    | IntegerField
    | MoneyField
    | CityField
    | MediaField,
    Field(discriminator="kind"),
]


def kind_of(field_class: type[FieldBase]) -> str:
    """The `kind:` value that selects this class in the profile (its `Literal`)."""
    (kind,) = get_args(field_class.model_fields["kind"].annotation)
    return str(kind)


# Read from the union so that they can never disagree with it.
FIELD_CLASSES: tuple[type[FieldBase], ...] = get_args(get_args(FormField)[0])
FIELD_KINDS: tuple[str, ...] = tuple(kind_of(c) for c in FIELD_CLASSES)
