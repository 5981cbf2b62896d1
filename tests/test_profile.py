"""The organisation profile: the example loads, and an administrator's mistakes are all reported."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.fields import ChoiceField, IntegerField, MediaField, MoneyField, TextField
from bot.profile import Profile
from bot.profile_loader import ProfileError, format_errors, load_profile
from bot.profile_types import LocalizedText

EXAMPLE = Path(__file__).resolve().parent.parent / "profiles" / "example.yaml"
RIYADH = ZoneInfo("Asia/Riyadh")


def example_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    return caught.value.errors


def example() -> Profile:
    return load_profile(EXAMPLE)


# --- the example profile ----------------------------------------------------------------------


def test_example_profile_loads_with_normalised_contact_details() -> None:
    profile = example()
    assert profile.name.en == "Model Charity Association"
    assert profile.name.get("ar") == "جمعية البر الخيرية النموذجية"
    assert profile.default_language == "ar"
    assert profile.timezone == "Asia/Riyadh"
    assert profile.contact.phone == "+966112345678"
    assert profile.contact.whatsapp == "+966501234567"
    assert profile.privacy_notice_url == "https://example.org/privacy"
    assert profile.consent.wording_version == "2026-12"


def test_example_working_week_is_sunday_to_thursday() -> None:
    hours = example().working_hours
    for day in ("sunday", "monday", "tuesday", "wednesday", "thursday"):
        assert [(r.open, r.close) for r in getattr(hours, day)] == [("08:00", "16:00")]
    assert hours.friday == []
    assert hours.saturday == []


def test_example_support_form_fields_in_order() -> None:
    form = example().support_form
    assert [(f.id, f.kind) for f in form.fields] == [
        ("full_name", "text"),
        ("national_id", "national_id"),
        ("birth_date", "date"),
        ("id_expiry", "date"),
        ("mobile", "phone"),
        ("city", "city"),
        ("family_size", "integer"),
        ("monthly_income", "money"),
        ("support_type", "choice"),
        ("description", "text"),
        ("documents", "media"),
    ]
    family, income, description, documents = (form.fields[i] for i in (6, 7, 9, 10))
    assert isinstance(family, IntegerField)
    assert (family.min, family.max) == (1, 30)
    assert isinstance(income, MoneyField)
    assert (income.min, income.max, income.currency) == (0, 100000, "SAR")
    assert isinstance(description, TextField)
    assert (description.min_length, description.max_length) == (10, 1000)
    assert isinstance(documents, MediaField)
    assert documents.required is False
    assert documents.max_files == 5
    assert form.attestation.version
    assert "مسؤول" in form.attestation.text.ar


def test_example_support_type_offers_the_request_types() -> None:
    profile = example()
    field = profile.get_field("support_type")
    assert isinstance(field, ChoiceField)
    assert field.options_from == "request_types"
    ids = [option.id for option in profile.options_for(field)]
    assert ids == [t.id for t in profile.request_types]
    assert {"food_basket", "financial_aid", "rent", "medical", "education"} <= set(ids)


def test_example_complaints_domains_and_slas() -> None:
    profile = example()
    categories = {c.id: c for c in profile.complaint_categories}
    assert set(categories) == {
        "service_quality",
        "aid_delay",
        "staff_conduct",
        "privacy_violation",
        "other",
    }
    assert [c for c in categories if categories[c].urgent] == ["privacy_violation"]
    assert len(profile.domains) == 4
    referenced = [t.domain for t in profile.request_types]
    referenced += [c.domain for c in profile.complaint_categories]
    for domain_id in referenced:
        domain = profile.get_domain(domain_id)
        assert domain is not None
        assert domain.officer.email.endswith("@example.org")
    assert profile.sla.request_decision_days == 14


def test_example_faq_has_varied_questions_in_both_languages() -> None:
    faq = example().faq
    assert len(faq) >= 6
    for topic in faq:
        assert 2 <= len(topic.entries) <= 4, topic.id
        for entry in topic.entries:
            assert len(entry.questions.ar) >= 3, entry.id
            assert len(entry.questions.en) >= 3, entry.id
    questions = [q for topic in faq for e in topic.entries for q in e.questions.ar]
    for dialect in ("وش الأوراق المطلوبة؟", "كم ياخذ الطلب؟", "متى تفتحون؟"):
        assert dialect in questions
    answer = example().get_faq_entry("how-long")
    assert answer is not None
    assert "أسبوعين" in answer.answer.ar
    assert "two weeks" in answer.answer.en


# --- mistakes, all reported with their YAML paths ---------------------------------------------


def test_all_mistakes_are_reported_with_their_yaml_paths(tmp_path: Path) -> None:
    data = example_data()
    data["contact"]["fax"] = "+966112345679"  # unknown key
    data["contact"]["phone"] = "+96612345"  # too short to be a Saudi number
    data["working_hours"]["sunday"][0]["open"] = "25:00"
    data["complaint_categories"][1]["domain"] = "legal"  # no such domain
    del data["faq"][2]["entries"][0]["answer"]["en"]

    assert errors_of(write(tmp_path, data)) == [
        "contact.phone: not a valid phone number for region SA (got '+96612345')",
        "contact.fax: unknown key (expected one of: phone, whatsapp, email, website, address)",
        'working_hours.sunday[0].open: must be a time written as HH:MM, e.g. "08:00"'
        " (got '25:00')",
        "faq[2].entries[0].answer.en: required key is missing",
        "complaint_categories[1].domain: unknown domain 'legal'; the domains are:"
        " beneficiary_relations, health_education, in_kind_aid, social_research",
    ]


def test_form_field_errors_point_at_the_field_not_at_its_kind(tmp_path: Path) -> None:
    data = example_data()
    fields = data["support_form"]["fields"]
    fields[6]["max"] = 0  # family size: max below min
    fields[6]["maximum"] = 30
    fields[7]["kind"] = "amount"
    fields[9]["id"] = "full_name"

    assert errors_of(write(tmp_path, data)) == [
        "support_form.fields[6].max: is 0, below min (1)",
        "support_form.fields[6].maximum: unknown key"
        " (expected one of: id, label, help, required, kind, min, max)",
        "support_form.fields[7].kind: unknown kind 'amount' (one of: text, national_id, date,"
        " phone, choice, integer, money, city, media)",
        "support_form.fields[9].id: field id 'full_name' is already used at support_form.fields[0]",
    ]


def test_ids_are_unique_across_the_whole_faq(tmp_path: Path) -> None:
    data = example_data()
    data["faq"][1]["entries"][0]["id"] = "services-list"
    data["faq"][3]["id"] = "services"
    assert errors_of(write(tmp_path, data)) == [
        "faq[3].id: FAQ id 'services' is already used at faq[0]",
        "faq[1].entries[0].id: FAQ id 'services-list' is already used at faq[0].entries[0]",
    ]


def test_other_value_mistakes(tmp_path: Path) -> None:
    data = example_data()
    data["timezone"] = "Asia/Riyad"
    data["working_hours"]["monday"] = [
        {"open": "08:00", "close": "12:00"},
        {"open": "11:00", "close": "16:00"},
    ]
    data["working_hours"]["tuesday"] = [{"open": "16:00", "close": "08:00"}]
    data["domains"][0]["officer"]["email"] = "research-at-example.org"
    data["sla"]["complaint_response_days"] = 0
    data["survey"]["low_score_threshold"] = 5
    data["templates"]["reminder"] = {"language": "ar"}

    assert errors_of(write(tmp_path, data)) == [
        "timezone: unknown time zone 'Asia/Riyad'; use e.g. 'Asia/Riyadh'",
        "working_hours.monday: periods 08:00-12:00 and 11:00-16:00 overlap",
        "working_hours.tuesday[0].close: is 08:00, not after open (16:00)",
        "domains[0].officer.email: not an email address (got 'research-at-example.org')",
        "sla.complaint_response_days: Input should be greater than 0 (got 0)",
        "survey.low_score_threshold: is 5, it must be below scale_max (5)",
        "templates.reminder: give twilio_content_sid, meta_name or both",
    ]


def test_unquoted_numbers_in_yaml(tmp_path: Path) -> None:
    """Unquoted 16:00 is the integer 960 in YAML 1.1; unquoted +966... is an integer too."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('{open: "08:00", close: "16:00"}', "{open: 08:00, close: 16:00}")
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    assert [(r.open, r.close) for r in load_profile(path).working_hours.sunday] == [
        ("08:00", "16:00")
    ]

    path.write_text(text.replace('phone: "+966112345678"', "phone: +966112345678"), "utf-8")
    assert errors_of(path) == [
        'contact.phone: write phone numbers in quotes, e.g. "+966501234567" (got 966112345678)'
    ]


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace("  en: Model Charity\n", "  en: Model Charity\n  en: Model Charity 2\n")
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  en: Model Charity") + 1
    assert errors_of(path) == [f"short_name.en: duplicate key (first written on line {line})"]


def test_profile_built_in_code_checks_references_too() -> None:
    data = example_data()
    data["request_types"][0]["domain"] = "legal"
    with pytest.raises(ValueError, match=r"request_types\[0\]\.domain: unknown domain 'legal'"):
        Profile.model_validate(data)


# --- file-level problems ----------------------------------------------------------------------


def test_yaml_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("name:\n  ar: جمعية\n\ten: Charity\n", encoding="utf-8")
    assert errors_of(path) == [
        "line 3, column 1: found character '\\t' that cannot start any token"
    ]


def test_missing_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert errors_of(tmp_path / "nowhere.yaml") == ["file not found"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("# only a comment\n", encoding="utf-8")
    assert errors_of(empty) == ["the file is empty; start from profiles/example.yaml"]
    listing = tmp_path / "list.yaml"
    listing.write_text("- name\n", encoding="utf-8")
    assert errors_of(listing) == [
        "the top level must be a mapping (name:, contact:, ...), not a list"
    ]


def test_format_errors_prefixes_the_path_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    assert format_errors(path, ["a: first", "b: second"]) == (
        f"{path}: a: first\n{path}: b: second\n2 errors in {path}"
    )
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(caught.value) == f"{path}: file not found\n1 error in {path}"


# --- working hours ----------------------------------------------------------------------------


def test_next_opening_on_thursday_evening_is_sunday_morning() -> None:
    profile = example()
    thursday_evening = datetime(2025, 1, 9, 20, 30, tzinfo=RIYADH)
    assert thursday_evening.strftime("%A") == "Thursday"
    assert profile.next_opening(thursday_evening) == datetime(2025, 1, 12, 8, 0, tzinfo=RIYADH)
    # The same moment given in UTC (17:30Z) gives the same answer, in Riyadh time.
    opening = profile.next_opening(datetime(2025, 1, 9, 17, 30, tzinfo=UTC))
    assert opening is not None
    assert opening.isoformat() == "2025-01-12T08:00:00+03:00"


def test_next_opening_before_and_during_hours() -> None:
    profile = example()
    early = datetime(2025, 1, 13, 6, 15, tzinfo=RIYADH)  # Monday
    assert profile.next_opening(early) == datetime(2025, 1, 13, 8, 0, tzinfo=RIYADH)
    during = datetime(2025, 1, 13, 10, 0, tzinfo=RIYADH)
    assert profile.next_opening(during) == during


def test_is_open_on_sunday_morning_and_not_on_friday() -> None:
    profile = example()
    assert profile.is_open(datetime(2025, 1, 12, 9, 0, tzinfo=RIYADH))  # Sunday
    assert profile.is_open(datetime(2025, 1, 12, 6, 0, tzinfo=UTC))  # Sunday 09:00 in Riyadh
    assert not profile.is_open(datetime(2025, 1, 10, 10, 0, tzinfo=RIYADH))  # Friday
    assert not profile.is_open(datetime(2025, 1, 12, 16, 0, tzinfo=RIYADH))  # closing time


def test_working_hours_need_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        example().is_open(datetime(2025, 1, 12, 9, 0))


def test_no_working_hours_means_no_next_opening(tmp_path: Path) -> None:
    data = example_data()
    data["working_hours"] = {}
    profile = load_profile(write(tmp_path, data))
    assert profile.next_opening(datetime(2025, 1, 12, 9, 0, tzinfo=RIYADH)) is None


def test_localized_text_falls_back_to_arabic() -> None:
    text = LocalizedText(ar="مرحبًا", en="Hello")
    assert text.get("en") == "Hello"
    assert text.get("en-GB") == "Hello"
    assert text.get("ar") == "مرحبًا"
    assert text.get("fr") == "مرحبًا"
