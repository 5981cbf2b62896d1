"""The kinds of form field: each one is a single class that validates and displays its answers.

A new kind must be one class in the union (and a sample here); these tests fail when a kind is
defined but left out of the union, lacks its own validation, or does not round-trip.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any, get_args

import pytest

import bot.fields
from bot.fields import (
    FIELD_CLASSES,
    FIELD_KINDS,
    NO_ANSWER,
    FieldBase,
    FormField,
    Invalid,
    MediaField,
    Valid,
    kind_of,
)
from bot.i18n import translator
from bot.profile import Profile
from bot.profile_loader import load_profile

EXAMPLE = Path(__file__).resolve().parent.parent / "profiles" / "example.yaml"
TODAY = date(2025, 6, 1)

# One field of the example profile per kind, a typed answer, the value stored, and what the
# summary shows in English and in Arabic. Media answers are the content types of the files sent.
SAMPLES: dict[str, tuple[str, Any, Any, str, str]] = {
    "text": ("full_name", " Sara Khalid ", "Sara Khalid", "Sara Khalid", "Sara Khalid"),
    "national_id": ("national_id", "١٠٠٠٠٠٠٠٠٨", "1000000008", "1000000008", "1000000008"),
    "date": (
        "birth_date",
        "12/05/1410",
        "1989-12-10",
        "12 Jumada al-Ula 1410 AH (10 December 1989)",
        "12 جمادى الأولى 1410 هـ (10 ديسمبر 1989 م)",
    ),
    "phone": ("mobile", "055 123 4567", "+966551234567", "+966551234567", "+966551234567"),
    "choice": ("support_type", "2", "financial_aid", "Financial aid", "مساعدة مالية"),
    "integer": ("family_size", "5 persons", 5, "5", "5"),
    "money": ("monthly_income", "3,500 riyal", "3500.00", "3,500 riyals", "3,500 ريال"),
    "city": ("city", "  الرياض ", "الرياض", "الرياض", "الرياض"),
    "media": ("documents", ["image/jpeg", "application/pdf"], 2, "2 files", "ملفان"),
}


@pytest.fixture(scope="module")
def example() -> Profile:
    return load_profile(EXAMPLE)


def defined_kinds() -> set[type[FieldBase]]:
    """Every concrete field class written in a module of bot.fields."""
    found: set[type[FieldBase]] = set()
    for info in pkgutil.iter_modules(bot.fields.__path__):
        module = importlib.import_module(f"bot.fields.{info.name}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, FieldBase) and not inspect.isabstract(value):
                found.add(value)
    return found


def test_every_kind_defined_is_in_the_union_and_in_field_kinds() -> None:
    assert defined_kinds() == set(FIELD_CLASSES)
    assert FIELD_CLASSES == get_args(get_args(FormField)[0])
    assert FIELD_KINDS == tuple(kind_of(c) for c in FIELD_CLASSES)
    assert len(set(FIELD_KINDS)) == len(FIELD_KINDS) == 9


@pytest.mark.parametrize("field_class", FIELD_CLASSES, ids=kind_of)
def test_every_kind_validates_and_displays_itself(field_class: type[FieldBase]) -> None:
    assert kind_of(field_class) in FIELD_KINDS
    assert not inspect.isabstract(field_class)
    # Its own reading of answers, not the base's abstract one; display comes with the base.
    assert field_class.validate_answer is not FieldBase.validate_answer
    assert callable(field_class.display)
    assert field_class.model_fields["kind"].is_required()


def test_the_base_cannot_be_a_field() -> None:
    with pytest.raises(TypeError, match="abstract"):
        FieldBase(id="x", label={"ar": "س", "en": "x"})


def test_every_kind_has_a_round_trip_sample(example: Profile) -> None:
    assert set(SAMPLES) == set(FIELD_KINDS)
    for kind, (field_id, *_) in SAMPLES.items():
        field = example.get_field(field_id)
        assert field is not None and field.kind == kind, field_id


@pytest.mark.parametrize("kind", FIELD_KINDS)
def test_an_answer_of_each_kind_round_trips_validate_to_display(
    example: Profile, kind: str
) -> None:
    field_id, typed, stored, shown_en, shown_ar = SAMPLES[kind]
    field = example.get_field(field_id)
    assert field is not None
    types = example.request_types
    if isinstance(field, MediaField):
        assert field.validate_files(typed, 0) == Valid(stored)
        value: Any = [{"content_type": content_type} for content_type in typed]
    else:
        result = field.validate_answer(typed, today=TODAY, request_types=types)
        assert result == Valid(stored)
        value = result.value
    assert field.display(value, translator("en"), request_types=types) == shown_en
    assert field.display(value, translator("ar"), request_types=types) == shown_ar


@pytest.mark.parametrize("kind", FIELD_KINDS)
def test_an_unanswered_question_shows_a_dash(example: Profile, kind: str) -> None:
    field = example.get_field(SAMPLES[kind][0])
    assert field is not None
    for empty in (None, []):
        assert field.display(empty, translator("en"), request_types=example.request_types) == (
            NO_ANSWER
        )


def test_only_choices_offer_buttons(example: Profile) -> None:
    offered = {
        field.kind: [o.id for o in field.offered_options(example.request_types)]
        for field in example.support_form.fields
    }
    assert offered.pop("choice") == [t.id for t in example.request_types]
    assert all(ids == [] for ids in offered.values())


def test_a_choice_from_request_types_refuses_to_guess_without_them(example: Profile) -> None:
    field = example.get_field("support_type")
    assert field is not None
    with pytest.raises(ValueError, match="support_type"):
        field.display("rent", translator("en"))
    # With them, an id that is no longer offered is shown as it was stored.
    assert field.display("gone", translator("en"), request_types=example.request_types) == "gone"


def test_a_wrong_answer_of_each_typed_kind_is_refused_with_a_sentence(example: Profile) -> None:
    en = translator("en")
    for kind, (field_id, *_) in SAMPLES.items():
        field = example.get_field(field_id)
        assert field is not None
        result = field.validate_answer("!", today=TODAY, request_types=example.request_types)
        assert isinstance(result, Invalid), kind
        sentence = result.render(en)
        assert sentence.endswith(".") and "{" not in sentence, kind


def test_reading_a_profile_loads_no_journey_and_no_numpy() -> None:
    """The core reads and checks a profile (`tawasul profile check`) without the handlers."""
    code = (
        "import sys, bot.profile_loader as loader\n"
        f"loader.load_profile({str(EXAMPLE)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('handlers', 'numpy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
