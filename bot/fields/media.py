"""Photos or scans of documents, sent as attachments rather than typed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from bot.fields.base import FieldBase, Invalid, Labelled, Valid, not_below
from bot.i18n import N_, Translator

__all__ = ["MEDIA_EXPECTED", "MEDIA_OR_SKIP", "MEDIA_TOO_MANY", "MEDIA_TYPE", "MediaField"]

MEDIA_EXPECTED = N_("Please send a photo or a PDF of the document.")
MEDIA_OR_SKIP = N_("Please send a photo or a PDF of the document, or write “skip”.")
MEDIA_TYPE = N_("This type of file cannot be accepted. Please send one of: {types}.")
MEDIA_TOO_MANY = N_("You can send at most {max} files in total; you have already sent {count}.")

_CONTENT_TYPE_RE = re.compile(r"^[a-z]+/([a-z0-9.+-]+|\*)$")
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def _base_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return _TYPE_ALIASES.get(base, base)


def _type_allowed(content_type: str, allowed: list[str]) -> bool:
    base = _base_type(content_type)
    return any(base == a or (a.endswith("/*") and base.startswith(a[:-1])) for a in allowed)


def _type_names(allowed: list[str]) -> str:
    """'JPEG, PNG, PDF': short names a beneficiary recognises, not MIME types."""
    names: list[str] = []
    for content_type in allowed:
        main, _, sub = content_type.partition("/")
        name = (main if sub == "*" else sub).upper()
        if name not in names:
            names.append(name)
    return ", ".join(names)


class MediaField(FieldBase):
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
        return not_below(value, info, "min_files")

    def validate_answer(
        self, text: str, *, today: date, request_types: Sequence[Labelled] = ()
    ) -> Valid | Invalid:
        """Text is never a document: the answer says what to send (or that it may be skipped)."""
        return Invalid(MEDIA_OR_SKIP if not self.required else MEDIA_EXPECTED)

    def validate_files(self, content_types: list[str], count_so_far: int) -> Valid | Invalid:
        """Check the attachments of one message; Valid holds the new total number of files."""
        if not content_types:
            return Invalid(MEDIA_OR_SKIP if not self.required else MEDIA_EXPECTED)
        if not all(_type_allowed(ct, self.content_types) for ct in content_types):
            return Invalid(MEDIA_TYPE, {"types": _type_names(self.content_types)})
        total = count_so_far + len(content_types)
        if total > self.max_files:
            return Invalid(MEDIA_TOO_MANY, {"max": self.max_files, "count": count_so_far})
        return Valid(total)

    def format_answer(
        self, value: Any, t: Translator, *, request_types: Sequence[Labelled] = ()
    ) -> str:
        """How many files were sent (the stored value is the list of them)."""
        return t.ngettext("{n} file", "{n} files", len(value)).format(n=len(value))
