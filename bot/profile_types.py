"""Building blocks shared by the organisation profile (`bot.profile`) and the kinds of field
of its support-request form (`bot.fields`): strict models, bilingual text, ids, phone numbers,
options.

They sit below both, so that the form's field kinds and the profile that holds them can each
use them without importing each other.
"""

from __future__ import annotations

import re
from typing import Annotated

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "ChoiceOption",
    "Identifier",
    "LocalizedText",
    "LocalizedVariants",
    "NonEmptyStr",
    "PhoneNumber",
    "StrictModel",
    "normalise_phone",
]


class StrictModel(BaseModel):
    """Base of every profile model: unknown keys are errors, so YAML typos never pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


NonEmptyStr = Annotated[str, Field(min_length=1)]

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _check_identifier(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(
            f"must be 1-40 lowercase Latin letters, digits, '_' or '-' (got {value!r});"
            " ids are used in buttons and links"
        )
    return value


# Ids travel in button payloads (Telegram callback_data is at most 64 bytes), so keep them short.
Identifier = Annotated[str, AfterValidator(_check_identifier)]


def normalise_phone(value: str, region: str = "SA") -> str:
    """Return `value` in E.164 (+9665...) or raise ValueError; national forms are read as `region`.

    phonenumbers also accepts Arabic-Indic digits, so 05… typed in them works.
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number (got {value!r}): {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number for region {region} (got {value!r})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


PhoneNumber = Annotated[str, AfterValidator(normalise_phone)]


class LocalizedText(StrictModel):
    """A sentence in Arabic and English; every beneficiary-facing text of the profile is one."""

    ar: NonEmptyStr
    en: NonEmptyStr

    def get(self, language: str) -> str:
        """The text in `language` ("en", "en-GB"...); Arabic for anything else: Arabic first."""
        return self.en if language.lower().startswith("en") else self.ar


class LocalizedVariants(StrictModel):
    """Several phrasings per language (MSA and dialect) of the same FAQ question, for matching."""

    ar: list[NonEmptyStr] = Field(min_length=1)
    en: list[NonEmptyStr] = Field(min_length=1)

    def get(self, language: str) -> list[str]:
        """The variants in `language`, Arabic for anything but English."""
        return self.en if language.lower().startswith("en") else self.ar


class ChoiceOption(StrictModel):
    """One option of a choice or city field, shown as a button or a numbered line."""

    id: Identifier
    label: LocalizedText
