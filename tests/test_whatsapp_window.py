"""The WhatsApp 24-hour window rule (bot/whatsapp_window.py), shared by the router, both
WhatsApp channels and the console: open, closed, the exact boundary, and which provider
errors and templates belong to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.models import DeliveryStatus
from bot.profile import WhatsAppTemplate
from bot.whatsapp_window import (
    means_closed,
    refused_for_closed_window,
    reply_waiting_template,
    template_to_send,
    window_at,
)

WROTE = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("elapsed", "is_open", "remaining"),
    [
        (timedelta(0), True, timedelta(hours=24)),
        (timedelta(hours=23, minutes=59, seconds=59), True, timedelta(seconds=1)),
        (timedelta(hours=24), False, timedelta(0)),  # the boundary: closed
        (timedelta(hours=24, microseconds=1), False, timedelta(0)),
        (timedelta(days=3), False, timedelta(0)),
    ],
    ids=["just-wrote", "last-second", "exactly-24h", "just-after", "days-later"],
)
def test_window_open_closed_and_boundary(
    elapsed: timedelta, is_open: bool, remaining: timedelta
) -> None:
    state = window_at(WROTE, WROTE + elapsed)
    assert state.open is is_open
    assert state.remaining == remaining
    assert state.closes_at == WROTE + timedelta(hours=24)


def test_window_is_closed_for_someone_who_never_wrote() -> None:
    state = window_at(None, WROTE)
    assert (state.open, state.closes_at, state.remaining) == (False, None, timedelta(0))


def test_window_across_time_zones() -> None:
    riyadh = WROTE.astimezone(timezone(timedelta(hours=3)))
    assert window_at(riyadh, WROTE + timedelta(hours=23)).remaining == timedelta(hours=1)


@pytest.mark.parametrize(
    ("code", "closed"),
    [
        (131047, True),  # Meta
        ("131047", True),
        ("63016", True),  # Twilio
        (63016, True),
        ("131026", False),  # Meta: undeliverable
        ("21610", False),  # Twilio: opted out
        ("", False),
        (None, False),
    ],
)
def test_which_provider_errors_mean_closed(code: str | int | None, closed: bool) -> None:
    assert means_closed(code) is closed
    assert refused_for_closed_window(DeliveryStatus.FAILED, code) is closed
    # Only a failed report is a refusal.
    assert refused_for_closed_window(DeliveryStatus.SENT, code) is False


META = WhatsAppTemplate(meta_name="reply_waiting_v2", language="ar")
TWILIO = WhatsAppTemplate(twilio_content_sid="HX" + "1" * 32, language="en")
BOTH = WhatsAppTemplate(meta_name="survey", twilio_content_sid="HX" + "2" * 32, language="ar")


@pytest.mark.parametrize(
    ("templates", "meta", "twilio"),
    [
        ({"survey": BOTH, "reply_waiting": META}, "reply_waiting", "survey"),
        ({"reply_waiting": TWILIO, "survey": BOTH}, "survey", "reply_waiting"),
        ({"a": TWILIO, "b": META}, "b", "a"),
        ({"a": TWILIO}, None, "a"),
        ({}, None, None),
    ],
    ids=["meta-reply-waiting", "twilio-reply-waiting", "first-sendable", "twilio-only", "none"],
)
def test_reply_waiting_template_prefers_reply_waiting_then_first_sendable(
    templates: dict[str, WhatsAppTemplate], meta: str | None, twilio: str | None
) -> None:
    def chosen(found: tuple[str, WhatsAppTemplate] | None) -> str | None:
        return None if found is None else found[0]

    assert chosen(reply_waiting_template(templates, lambda t: t.meta_name)) == meta
    assert chosen(reply_waiting_template(templates, lambda t: t.twilio_content_sid)) == twilio


@pytest.mark.parametrize(
    ("name", "templates", "expected"),
    [
        ("reply_waiting", {"survey": BOTH, "reply_waiting": TWILIO}, TWILIO),
        ("reply_waiting", {"a": META, "survey": BOTH}, BOTH),  # the same fallback as a refusal
        ("reply_waiting", {"a": META}, None),
        ("survey", {"survey": BOTH, "reply_waiting": TWILIO}, BOTH),
        ("a", {"a": META, "survey": BOTH}, None),  # another name never falls back
        ("missing", {"survey": BOTH}, None),
    ],
)
def test_template_to_send_for_twilio(
    name: str, templates: dict[str, WhatsAppTemplate], expected: WhatsAppTemplate | None
) -> None:
    assert template_to_send(name, templates, lambda t: t.twilio_content_sid) == expected
