"""The FAQ that learns from staff, on both backends with the real Redis: unanswered questions
recorded in the turn's transaction and grouped by their normalised text, a phrasing or a new
entry added, and the next message answered by a router that was running all along."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from redis.asyncio import Redis

from bot.app.router import Router
from bot.faq_live import LiveFaq, announce_change
from bot.models import AddressKind, InboundMessage
from bot.profile import Profile
from bot.storage import Store
from bot.storage.faq_additions import NewEntry
from bot.storage.unanswered import unanswered_questions
from handlers.wiring import build_dispatcher
from tests.conftest import PROFILE, REDIS_URL
from worker.queues import QueueOutbox, make_queue

CLOTHES = "هل توزعون ملابس العيد؟"
SWIMMING = "Do you offer swimming lessons for kids?"


@pytest.fixture
def namespace() -> str:
    return f"faq-test-{uuid.uuid4().hex[:8]}"


def _router(store: Store, redis: Redis, profile: Profile, namespace: str) -> Router:
    outbox = QueueOutbox(make_queue(REDIS_URL, namespace), redis)
    faq = LiveFaq(profile, redis, store.faq_additions.all, namespace)
    return Router(store, redis, outbox, build_dispatcher(profile, faq), profile)


async def _ask(router: Router, store: Store, text: str, address: str) -> str:
    """The reply to `text` from a beneficiary who has been greeted already (a first message
    gets the greeting and the menu)."""
    await _say(router, store, "hello" if text.isascii() else "مرحبا", address)
    return await _say(router, store, text, address)


async def _say(router: Router, store: Store, text: str, address: str) -> str:
    message = InboundMessage(
        channel="webchat",
        address_kind=AddressKind.WEBCHAT,
        address=address,
        provider_id=uuid.uuid4().hex,
        text=text,
    )
    outcome = await router.handle(message)
    texts = []
    for reply_id in outcome.reply_ids:
        delivery = await store.deliveries.delivery(reply_id)
        assert delivery is not None
        texts.append(delivery.message.text)
    return "\n".join(texts)


async def test_unanswered_questions_are_counted_and_staff_teach_the_faq(
    store: Store, redis: Redis, profile: Profile, namespace: str
) -> None:
    profile_hash = hashlib.sha256(PROFILE.read_bytes()).hexdigest()
    router = _router(store, redis, profile, namespace)
    services = profile.get_faq_entry("services-list")
    assert services is not None
    first = await _ask(router, store, CLOTHES, "family-a")
    assert services.answer.ar not in first
    # Asked again by someone else, with diacritics and Arabic-Indic spacing of its own.
    await _ask(router, store, "هَل توزعون  ملابس العيد", "family-b")
    await _ask(router, store, SWIMMING, "family-c")
    await _say(router, store, "مرحبا", "family-c")  # a greeting is no question

    groups = await unanswered_questions(store.db)
    by_text = {g.question.rstrip("؟?"): g for g in groups}
    clothes = next(g for g in groups if "ملابس" in g.question)
    assert (clothes.asks, clothes.people, clothes.channels) == (2, 2, ("webchat",))
    assert SWIMMING.rstrip("?") in by_text and by_text[SWIMMING.rstrip("?")].asks == 1
    assert len(groups) == 2

    # Staff attach it to the services entry; the router running all along answers it next.
    await store.faq_additions.add_phrasing(
        "services-list", "ar", CLOTHES, "officer@example.org", clothes.key
    )
    await announce_change(redis, namespace)
    assert services.answer.ar in await _ask(router, store, CLOTHES, "family-e")

    # A new entry in both languages for the English question.
    swimming = by_text[SWIMMING.rstrip("?")]
    entry = NewEntry(
        "services",
        "هل لديكم دروس سباحة للأطفال؟",
        SWIMMING,
        "لا نقدم دروس السباحة حاليًا، ويسعدنا إرشادكم إلى الأندية القريبة.",
        "We do not offer swimming lessons at the moment; we can point you to nearby clubs.",
    )
    added = await store.faq_additions.add_entry(entry, "quality@example.org", swimming.key)
    await announce_change(redis, namespace)
    assert entry.answer_en in await _ask(router, store, SWIMMING, "family-f")
    assert entry.answer_ar in await _ask(router, store, entry.question_ar, "family-g")

    # Both dealt with: off the list, and still in the reports' view with what was decided.
    assert await unanswered_questions(store.db) == []
    everything = await unanswered_questions(store.db, pending_only=False)
    assert {(g.review, g.entry_id) for g in everything} == {
        ("attached", "services-list"),
        ("new_entry", added.entry_id),
    }
    assert [(a.kind, a.added_by) for a in await store.faq_additions.all()] == [
        ("phrasing", "officer@example.org"),
        ("entry", "quality@example.org"),
    ]
    # The profile file on disk was never rewritten.
    assert hashlib.sha256(PROFILE.read_bytes()).hexdigest() == profile_hash


async def test_a_dismissed_question_leaves_the_list_and_is_audited(
    store: Store, redis: Redis, profile: Profile, namespace: str
) -> None:
    router = _router(store, redis, profile, namespace)
    await _ask(router, store, "كم سعر البنزين", "driver")
    (group,) = await unanswered_questions(store.db)
    assert (group.question, group.asks) == ("كم سعر البنزين", 1)
    await store.unanswered.dismiss(group.key, "manager@example.org", "127.0.0.1")
    assert await unanswered_questions(store.db) == []
    found = await store.unanswered.question(group.key)
    assert found is not None and (found.review, found.reviewed_by) == (
        "dismissed",
        "manager@example.org",
    )
    entries = await store.audit.search(actor="manager@example.org")
    assert [e.action for e in entries] == ["faq.question_dismissed"]


async def test_erasing_a_beneficiary_erases_the_questions_they_asked(
    store: Store, redis: Redis, profile: Profile, namespace: str
) -> None:
    router = _router(store, redis, profile, namespace)
    await _ask(router, store, "كم سعر البنزين", "erased-one")
    await _ask(router, store, "كم سعر البنزين", "staying-one")
    (group,) = await unanswered_questions(store.db)
    assert group.people == 2
    record = await store.inbound.record_inbound(
        InboundMessage(
            channel="webchat",
            address_kind=AddressKind.WEBCHAT,
            address="erased-one",
            provider_id=uuid.uuid4().hex,
            text="x",
        )
    )
    assert record is not None
    await store.contact_cases.erase(record.contact_id, "officer@example.org")
    (group,) = await unanswered_questions(store.db)
    assert (group.asks, group.people) == (1, 1)
