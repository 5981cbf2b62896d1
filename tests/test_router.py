"""The router on both backends, with real Redis and a real RQ queue."""

from __future__ import annotations

import asyncio
import json
import uuid
import zlib

import pytest
from redis.asyncio import Redis
from rq.job import Job

from bot.app.router import Router
from bot.i18n import translator
from bot.models import AddressKind, InboundMessage
from bot.profile import Profile
from bot.storage import Store
from handlers.base import Dispatcher, Handler, Turn
from handlers.menu import MenuHandler
from handlers.wiring import build_dispatcher
from tests.conftest import REDIS_URL
from worker.queues import QueueOutbox, drain_outbox, make_queue


@pytest.fixture
def queue_name() -> str:
    return f"router-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def router(store: Store, redis: Redis, profile: Profile, queue_name: str) -> Router:
    outbox = QueueOutbox(make_queue(REDIS_URL, queue_name), redis)
    return Router(store, redis, outbox, build_dispatcher(profile), profile)


def message(text: str, address: str = "session-a") -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        address_kind=AddressKind.WEBCHAT,
        address=address,
        provider_id=uuid.uuid4().hex,
        text=text,
    )


async def test_replies_are_stored_then_queued_for_the_worker(
    router: Router, store: Store, queue_name: str
) -> None:
    outcome = await router.handle(message("مرحبا", address=uuid.uuid4().hex))
    assert not outcome.duplicate and len(outcome.reply_ids) == 1
    queue = make_queue(REDIS_URL, queue_name)
    (drain,) = queue.get_jobs()  # the web process queues ids; the worker makes the jobs
    assert drain.func_name == "worker.jobs.drain_outbox"
    assert drain_outbox(queue) == list(outcome.reply_ids)
    (job,) = [job for job in queue.get_jobs() if job.id != drain.id]
    assert job.func_name == "worker.jobs.deliver"
    assert job.args == [outcome.reply_ids[0]]
    raw = queue.connection.hget(Job.key_for(job.id), "data")  # as stored: JSON, never pickles
    assert isinstance(raw, bytes)
    call = json.loads(zlib.decompress(raw))
    assert call == ["worker.jobs.deliver", None, [outcome.reply_ids[0]], {}]
    delivery = await store.deliveries.delivery(outcome.reply_ids[0])
    assert delivery is not None and "جمعية البر الخيرية النموذجية" in delivery.message.text


async def test_two_copies_at_the_same_moment_are_handled_once(router: Router) -> None:
    msg = message("مرحبا", address=uuid.uuid4().hex)
    outcomes = await asyncio.gather(router.handle(msg), router.handle(msg))
    assert sorted(o.duplicate for o in outcomes) == [False, True]


async def test_quick_messages_from_one_person_are_handled_in_arrival_order(
    router: Router, store: Store
) -> None:
    address = uuid.uuid4().hex
    await router.handle(message("hello", address))
    texts = ["english", "عربي", "english", "عربي", "english"]
    outcomes = await asyncio.gather(*(router.handle(message(t, address)) for t in texts))
    replies = [await store.deliveries.delivery(o.reply_ids[0]) for o in outcomes]
    starts = [r.message.text.split("\n")[0] for r in replies if r is not None]
    en = translator("en").gettext("From now on I will answer in English.")
    ar = translator("ar").gettext("From now on I will answer in English.")
    assert starts == [en, ar, en, ar, en]
    assert sorted(o.reply_ids[0] for o in outcomes) == [o.reply_ids[0] for o in outcomes]


class Exploding(Handler):
    async def handle(self, turn: Turn) -> None:
        turn.say("half an answer")
        turn.state.flow = "broken"
        turn.state.drafts.setdefault("form", {})["answers"] = {"half": "done"}
        raise RuntimeError("boom")


class Remembering(Handler):
    """Puts something in the state, so the failing turn after it has a state to restore."""

    async def handle(self, turn: Turn) -> None:
        turn.state.drafts["form"] = {"answers": {"name": "kept"}}
        turn.say("noted")


async def test_a_failing_handler_gets_an_apology_and_the_state_before_it(
    store: Store, redis: Redis, profile: Profile, queue_name: str
) -> None:
    outbox = QueueOutbox(make_queue(REDIS_URL, queue_name), redis)
    address = uuid.uuid4().hex
    remembering = Router(
        store, redis, outbox, Dispatcher([Remembering()], {}, MenuHandler({})), profile
    )
    await remembering.handle(message("أولًا", address=address))
    router = Router(store, redis, outbox, Dispatcher([Exploding()], {}, MenuHandler({})), profile)
    outcome = await router.handle(message("مرحبا", address=address))
    (reply_id,) = outcome.reply_ids
    delivery = await store.deliveries.delivery(reply_id)
    assert delivery is not None
    assert delivery.message.text.startswith("عذرًا، حدث خطأ من جهتنا. رسالتك محفوظة")
    record = await store.inbound.record_inbound(message("again", address=address))
    assert record is not None
    state = await store.inbound.load_state(record.conversation_id)
    assert state is not None and state["flow"] is None
    assert state["drafts"] == {"form": {"answers": {"name": "kept"}}}
