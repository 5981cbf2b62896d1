"""How a survey answer is read as a rating: buttons, digits in any script, and words in
Arabic (normalised: hamza, tanween, ta marbuta) and English; anything else is no rating."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.i18n import translator
from bot.models import OutboundMessage
from bot.profile_loader import ProfileError, load_profile
from channels import whatsapp
from channels.render import numbered_text
from handlers.survey import parse_rating, rating_buttons
from tests.conftest import PROFILE


@pytest.mark.parametrize(
    ("text", "button_id", "expected"),
    [
        ("5", None, 5),
        ("١", None, 1),
        ("٢", None, 2),
        (" ٣ ", None, 3),
        ("۴", None, 4),  # Persian four
        ("\u200f٥\u200f", None, 5),  # with the bidi marks phones add
        ("ممتاز", None, 5),
        ("ممتازة", None, 5),
        ("راضٍ جدًا", None, 5),
        ("جيد جدا", None, 4),
        ("جيد جداً", None, 4),
        ("جيّد جدًّا!", None, 4),
        ("جيد", None, 3),
        ("مقبول", None, 2),
        ("سيء", None, 1),
        ("سيئ", None, 1),
        ("سيئة جدا", None, 1),
        ("غير راض", None, 1),
        ("excellent", None, 5),
        ("Excellent!", None, 5),
        ("very good", None, 4),
        ("Good", None, 3),
        ("acceptable", None, 2),
        ("bad", None, 1),
        ("BAD", None, 1),
        ("", "survey:4", 4),
        ("جيد", "survey:1", 1),  # the button pressed wins over its words
        ("", "survey:9", None),
        ("6", None, None),
        ("0", None, None),
        ("-1", None, None),
        ("2.5", None, None),
        ("متى يصرف الدعم؟", None, None),
        ("hello", None, None),
        ("", None, None),
    ],
)
def test_ratings_are_read_from_buttons_digits_and_words(
    text: str, button_id: str | None, expected: int | None
) -> None:
    assert parse_rating(text, button_id, 5) == expected


def test_words_spread_over_another_scale_and_buttons_follow_it() -> None:
    assert parse_rating("ممتاز", None, 10) == 10
    assert parse_rating("bad", None, 10) == 1
    assert parse_rating("جيد", None, 3) == 2
    assert parse_rating("7", None, 10) == 7
    ar = [b.title for b in rating_buttons(translator("ar"), 5)]
    assert ar == ["سيئ", "مقبول", "جيد", "جيد جدًا", "ممتاز"]
    assert [b.id for b in rating_buttons(translator("en"), 3)] == [
        "survey:1",
        "survey:2",
        "survey:3",
    ]
    assert all(len(title) <= 20 for title in ar)


def test_on_whatsapp_the_five_ratings_come_as_a_list_and_on_sms_as_numbers() -> None:
    """Meta allows three reply buttons: five ratings become one list (DESIGN.md); Twilio has
    no buttons, so the ratings are numbered lines that answer to their numbers."""
    question = OutboundMessage("كيف تقيّم الخدمة؟", tuple(rating_buttons(translator("ar"), 5)))
    (payload,) = whatsapp.render(question)
    interactive = payload["interactive"]
    assert interactive["type"] == "list"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [(row["id"], row["title"]) for row in rows] == [
        ("survey:1", "سيئ"),
        ("survey:2", "مقبول"),
        ("survey:3", "جيد"),
        ("survey:4", "جيد جدًا"),
        ("survey:5", "ممتاز"),
    ]
    assert numbered_text(question).endswith("1. سيئ\n2. مقبول\n3. جيد\n4. جيد جدًا\n5. ممتاز")
    assert parse_rating("2", None, 5) == 2  # the number on that list


def test_the_profile_says_when_surveys_go_and_lapse(tmp_path: Path) -> None:
    example = load_profile(PROFILE).survey
    assert (example.delay_minutes, example.expires_hours) == (60, 72)
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    data["survey"].update(delay_minutes=180, expires_hours=2)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.errors == [
        "survey: expires_hours (2) must come after delay_minutes (180 minutes)"
    ]
    data["survey"].update(delay_minutes=-1, expires_hours=72)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert [e.split(":")[0] for e in caught.value.errors] == ["survey.delay_minutes"]
