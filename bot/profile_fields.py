"""Building blocks of the organisation profile and the support-request form schema.

Split out of `bot.profile` to keep each module readable. Import the public names from
`bot.profile`; this module holds the shared base types (strict models, bilingual text, ids,
phone numbers) and the fields of the support-request form ("talab da'm mustafid"). The
field *values* a beneficiary types are validated elsewhere; this only checks that the form is
well described.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "FIELD_KINDS",
    "Attestation",
    "ChoiceField",
    "ChoiceOption",
    "CityField",
    "DateField",
    "FormField",
    "Identifier",
    "IntegerField",
    "LocalizedText",
    "LocalizedVariants",
    "MediaField",
    "MoneyField",
    "NationalIdField",
    "NonEmptyStr",
    "PhoneField",
    "PhoneNumber",
    "StrictModel",
    "SupportForm",
    "TextField",
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


def _check_unique_option_ids(options: list[ChoiceOption] | None) -> list[ChoiceOption] | None:
    if options:
        seen: set[str] = set()
        for option in options:
            if option.id in seen:
                raise ValueError(f"option id {option.id!r} is used twice")
            seen.add(option.id)
    return options


_Bound = TypeVar("_Bound")


def _not_below(value: _Bound, info: ValidationInfo, lower_key: str) -> _Bound:
    """An upper bound must not be below the lower bound declared (and validated) before it."""
    lower: Any = info.data.get(lower_key)
    if value is not None and lower is not None and lower > value:
        raise ValueError(f"is {value}, below {lower_key} ({lower})")
    return value


class _FieldBase(StrictModel):
    id: Identifier
    label: LocalizedText
    help: LocalizedText | None = None
    required: bool = True


class TextField(_FieldBase):
    """Free text (a name, a description) with length limits counted in characters."""

    kind: Literal["text"]
    min_length: int = Field(default=1, ge=0)
    max_length: int = Field(default=200, ge=1)

    @field_validator("max_length")
    @classmethod
    def _lengths(cls, value: int, info: ValidationInfo) -> int:
        return _not_below(value, info, "min_length")


class NationalIdField(_FieldBase):
    """Saudi national ID (starts with 1) or iqama (starts with 2): 10 digits with a check digit."""

    kind: Literal["national_id"]


class DateField(_FieldBase):
    """A date typed in Hijri (Umm al-Qura) or Gregorian; e.g. a birth date or an ID expiry date."""

    kind: Literal["date"]
    not_in_future: bool = False
    not_expired: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> DateField:
        if self.not_in_future and self.not_expired:
            raise ValueError("not_in_future and not_expired together would only accept today")
        return self


class PhoneField(_FieldBase):
    """A phone number, stored as E.164; national numbers are read in `region`."""

    kind: Literal["phone"]
    region: str = "SA"
    mobile_only: bool = True

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region code {value!r}; use a two-letter code such as 'SA'")
        return value


class ChoiceField(_FieldBase):
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


class IntegerField(_FieldBase):
    """A whole number such as the family size; `min`/`max` are inclusive."""

    kind: Literal["integer"]
    min: int | None = None
    max: int | None = None

    @field_validator("max")
    @classmethod
    def _range(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _not_below(value, info, "min")


class MoneyField(_FieldBase):
    """An amount of money such as the monthly income; `min`/`max` are inclusive."""

    kind: Literal["money"]
    min: Decimal | None = None
    max: Decimal | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "SAR"

    @field_validator("max")
    @classmethod
    def _range(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        return _not_below(value, info, "min")


class CityField(_FieldBase):
    """The applicant's city: free text, or one of `options` when the association lists them."""

    kind: Literal["city"]
    options: list[ChoiceOption] | None = None

    @field_validator("options")
    @classmethod
    def _unique_options(cls, value: list[ChoiceOption] | None) -> list[ChoiceOption] | None:
        return _check_unique_option_ids(value)


_CONTENT_TYPE_RE = re.compile(r"^[a-z]+/([a-z0-9.+-]+|\*)$")


class MediaField(_FieldBase):
    """Photos or scans of documents sent as attachments."""

    kind: Literal["media"]
    min_files: int = Field(default=1, ge=0)
    max_files: int = Field(default=5, ge=1)
    content_types: list[str] = Field(
        default_factory=lambda: ["image/jpeg", "image/png", "application/pdf"], min_length=1
    )

    @field_validator("content_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        for content_type in value:
            if not _CONTENT_TYPE_RE.match(content_type):
                raise ValueError(
                    f"{content_type!r} is not a content type such as 'image/jpeg' or 'image/*'"
                )
        return value

    @field_validator("max_files")
    @classmethod
    def _range(cls, value: int, info: ValidationInfo) -> int:
        return _not_below(value, info, "min_files")


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

FIELD_KINDS: tuple[str, ...] = (
    "text",
    "national_id",
    "date",
    "phone",
    "choice",
    "integer",
    "money",
    "city",
    "media",
)


class Attestation(StrictModel):
    """The applicant's declaration that the data is correct; `version` is stored with each one."""

    version: NonEmptyStr
    text: LocalizedText


class SupportForm(StrictModel):
    """The support-request form: attestation wording, draft lifetime and the fields in order."""

    attestation: Attestation
    expiry_hours: int = Field(default=72, gt=0)
    fields: list[FormField] = Field(min_length=1)
