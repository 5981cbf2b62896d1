"""The inbound path under concurrency: what people notice when many write at the same moment.

Covers the group commit of the inbound steps (bot/batching.py, bot/storage.py): many
people at once each get their own reply, a message that comes twice in one batch is handled
once, one failing turn does not fail the others; the contact lock across processes
(bot/contact_lock.py): two routers sharing nothing in-process lose no update of one
person's conversation; the outbox (worker/queues.py): one drain job for a burst of replies,
one delivery job per reply; and SQLite's wait for another process's write lock (bot/db.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from rq import Queue
from sqlalchemy import func, select

from bot import db as db_module
from bot.app.router import Outcome, Router
from bot.batching import Batcher
from bot.crypto import Cipher
from bot.db import Database
from bot.migrate import upgrade
from bot.models import AddressKind, InboundMessage, OutboundMessage
from bot.profile import Profile
from bot.redis_batch import ScriptBatch
from bot.storage import InboundRecord, Store, state_version
from bot.storage.inbound import AlreadyHandled
from bot.tables import Message
from handlers.base import Dispatcher, Handler, Turn
from handlers.menu import MenuHandler
from handlers.wiring import build_dispatcher
from tests.conftest import REDIS_URL
from tests.conftest import _free_port as free_port
from worker.defaults import delivery_job_id
from worker.queues import QueueOutbox, drain_outbox, make_queue

ASSOCIATION = "جمعية البر الخيرية النموذجية"
APOLOGY_START = "عذرًا، حدث خطأ من جهتنا"
DRAIN_JOB = "worker.jobs.drain_outbox"
DELIVER_JOB = "worker.jobs.deliver"
BOOM = "انفجار"  # "boom", in Arabic so that the apology is the Arabic one


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def queue() -> Iterator[Queue]:
    queue = make_queue(REDIS_URL, f"concurrency-test-{uuid.uuid4().hex[:8]}")
    yield queue
    queue.connection.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """A migrated, empty SQLite database (for what only SQLite does, or needs one backend)."""
    path = tmp_path / "tawasul.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_store(sqlite_path: Path, cipher: Cipher) -> Iterator[Store]:
    db = Database(f"sqlite:///{sqlite_path}")
    yield Store(db, cipher)
    db.close()


# -- helpers ----------------------------------------------------------------------------------
class Answering(Handler):
    """Replies "ok", or raises when the message is BOOM."""

    async def handle(self, turn: Turn) -> None:
        if turn.message.text == BOOM:
            raise RuntimeError("boom")
        turn.say("ok")


class Remembering(Handler):
    """Appends every message's text to the conversation's state, then answers."""

    async def handle(self, turn: Turn) -> None:
        turn.state.data.setdefault("seen", []).append(turn.message.text)
        turn.say("noted")


def message(
    text: str, address: str | None = None, provider_id: str | None = None
) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        address_kind=AddressKind.WEBCHAT,
        address=address or uuid.uuid4().hex,
        provider_id=provider_id or uuid.uuid4().hex,
        text=text,
    )


def make_router(
    store: Store, redis: Redis, profile: Profile, queue: Queue, handler: Handler | None = None
) -> Router:
    """A router on `store`; with `handler`, that handler answers every message."""
    dispatcher = (
        build_dispatcher(profile) if handler is None else Dispatcher([handler], {}, MenuHandler({}))
    )
    return Router(store, redis, QueueOutbox(queue, redis), dispatcher, profile)


@asynccontextmanager
async def separate_process(
    database_url: str, cipher: Cipher, profile: Profile, queue_name: str, handler: Handler
) -> AsyncIterator[Router]:
    """A router sharing nothing in-process with any other: its own database engine and
    threads, Redis clients and contact locks, as in another web process."""
    db = Database(database_url)
    redis = Redis.from_url(REDIS_URL)
    queue = make_queue(REDIS_URL, queue_name)
    try:
        yield make_router(Store(db, cipher), redis, profile, queue, handler)
    finally:
        queue.connection.close()
        await redis.aclose()
        db.close()


async def only_reply(store: Store, outcome: Outcome) -> tuple[str, str]:
    """The one reply stored for a handled message: (its text, the address it goes to)."""
    assert not outcome.duplicate
    (reply_id,) = outcome.reply_ids
    delivery = await store.deliveries.delivery(reply_id)
    assert delivery is not None
    return delivery.message.text, delivery.address


async def inbound_rows(store: Store, provider_id: str) -> int:
    def count() -> int:
        with store.db.sessions() as session:
            query = select(func.count(Message.id)).where(
                Message.direction == "in", Message.provider_id == provider_id
            )
            return int(session.scalar(query) or 0)

    return await store.db.run(count)


async def conversation_of(store: Store, message_id: int) -> int:
    def find() -> int:
        with store.db.sessions() as session:
            conversation_id = session.scalar(
                select(Message.conversation_id).where(Message.id == message_id)
            )
            assert conversation_id is not None
            return conversation_id

    return await store.db.run(find)


def jobs_named(queue: Queue, func_name: str) -> list[str]:
    """The ids of the queued jobs calling `func_name`, front of the queue first."""
    return [job.id for job in queue.get_jobs() if job.func_name == func_name]


# -- many people at once ----------------------------------------------------------------------
async def test_forty_people_at_the_same_moment_each_get_their_own_welcome(
    store: Store, redis: Redis, profile: Profile, queue: Queue
) -> None:
    router = make_router(store, redis, profile, queue)
    addresses = [uuid.uuid4().hex for _ in range(40)]
    outcomes = await asyncio.gather(
        *(router.handle(message("مرحبا", address)) for address in addresses)
    )
    for address, outcome in zip(addresses, outcomes, strict=True):
        text, to = await only_reply(store, outcome)
        assert ASSOCIATION in text
        assert to == address  # nobody gets someone else's reply
    assert await store.deliveries.count_messages("in") == 40
    assert await store.deliveries.count_messages("in", "handled") == 40


async def test_one_failing_turn_leaves_the_others_answered(
    store: Store, redis: Redis, profile: Profile, queue: Queue
) -> None:
    router = make_router(store, redis, profile, queue, Answering())
    texts = ["مرحبا"] * 4 + [BOOM] + ["مرحبا"] * 5
    addresses = [uuid.uuid4().hex for _ in texts]
    outcomes = await asyncio.gather(
        *(
            router.handle(message(text, address))
            for text, address in zip(texts, addresses, strict=True)
        )
    )
    replies = [await only_reply(store, outcome) for outcome in outcomes]
    assert [to for _, to in replies] == addresses
    assert [reply == "ok" for reply, _ in replies] == [text != BOOM for text in texts]
    (apology,) = [reply for reply, _ in replies if reply != "ok"]
    assert apology.startswith(APOLOGY_START)
    assert await store.deliveries.count_messages("in", "handled") == 10


# -- duplicates -------------------------------------------------------------------------------
async def test_a_message_sent_twice_among_others_is_handled_once(
    store: Store, redis: Redis, profile: Profile, queue: Queue
) -> None:
    """A provider delivering one message twice at once: the copies meet at the Redis claim
    (one address's turns are queued one after the other before the store sees them)."""
    router = make_router(store, redis, profile, queue, Answering())
    twice = message("hello")
    others = [message("hello") for _ in range(4)]
    outcomes = await asyncio.gather(*(router.handle(m) for m in [twice, *others, twice]))
    copies = [outcomes[0], outcomes[-1]]
    assert sorted(outcome.duplicate for outcome in copies) == [False, True]
    (handled,) = [outcome for outcome in copies if not outcome.duplicate]
    assert (await only_reply(store, handled))[0] == "ok"
    for outcome in outcomes[1:-1]:
        assert (await only_reply(store, outcome))[0] == "ok"
    assert await inbound_rows(store, twice.provider_id) == 1
    assert await store.deliveries.count_messages("out") == 5


async def test_a_provider_id_twice_in_one_recording_batch_is_recorded_once(
    store: Store,
) -> None:
    """Past the Redis dedupe (two processes claiming at once, or Redis flushed), the same
    provider message reaching one batch of the store twice makes one row; the second copy
    is reported already recorded."""
    twice = message("hello")
    others = [message("hello") for _ in range(3)]
    records = await asyncio.gather(
        *(store.inbound.record_inbound(m) for m in [twice, others[0], twice, *others[1:]])
    )
    assert records[0] is not None and records[2] is None
    assert all(record is not None for record in [records[1], *records[3:]])
    assert await inbound_rows(store, twice.provider_id) == 1
    assert await store.deliveries.count_messages("in") == 4


# -- one person, two processes ----------------------------------------------------------------
async def test_a_save_a_record_and_a_read_at_once_share_one_batch_and_fail_alone(
    store: Store,
) -> None:
    """Steps of different messages waiting together go in one transaction: a turn being
    saved, the next message of that person, a read, and a turn that cannot be saved (its
    conversation does not exist). The broken one fails alone; the next message and the
    read see the saved state."""
    address = uuid.uuid4().hex
    first = await store.inbound.record_inbound(message("one", address))
    assert first is not None
    broken = dataclasses.replace(first, conversation_id=10**9)
    saved_at = datetime(2026, 11, 22, 9, 30, 0, 123456, tzinfo=UTC)
    saved, second, failed, read = await asyncio.gather(
        store.inbound.save_turn(
            first, "webchat", {"seen": ["one"]}, [OutboundMessage("ok")], [], saved_at
        ),
        store.inbound.record_inbound(message("two", address)),
        store.inbound.save_turn(broken, "webchat", {}, [OutboundMessage("lost")], [], saved_at),
        store.inbound.load_state(first.conversation_id),
        return_exceptions=True,
    )
    assert isinstance(saved, list) and len(saved) == 1
    assert isinstance(second, InboundRecord)
    assert second.state == {"seen": ["one"]}
    assert second.version == state_version(saved_at)
    assert isinstance(failed, Exception)
    assert read == {"seen": ["one"]}
    assert await store.deliveries.count_messages("out") == 1
    assert await store.deliveries.count_messages("in", "handled") == 1
    assert await store.deliveries.count_messages("in", "received") == 1


async def test_two_processes_lose_no_update_of_one_conversation(
    store: Store, database_url: str, cipher: Cipher, profile: Profile, queue: Queue
) -> None:
    """Every turn must start from the state the turn before it saved, in whichever process
    that turn ran: a state read before the contact's lock (or reused when another process
    saved since) drops some of the texts."""
    address = uuid.uuid4().hex
    texts = [f"message {number}" for number in range(20)]
    async with (
        separate_process(database_url, cipher, profile, queue.name, Remembering()) as first,
        separate_process(database_url, cipher, profile, queue.name, Remembering()) as second,
    ):
        routers = [first, second]
        outcomes = await asyncio.gather(
            *(
                routers[number % 2].handle(message(text, address))
                for number, text in enumerate(texts)
            )
        )
    assert all(not outcome.duplicate and len(outcome.reply_ids) == 1 for outcome in outcomes)
    conversations = {await conversation_of(store, o.message_id or 0) for o in outcomes}
    assert len(conversations) == 1  # one contact, however the first messages raced
    state = await store.inbound.load_state(conversations.pop())
    assert state is not None
    assert sorted(state["data"]["seen"]) == sorted(texts)
    assert await store.deliveries.count_messages("in") == 20


async def test_two_processes_recording_the_same_new_people_in_opposite_order_record_all(
    store: Store, database_url: str, cipher: Cipher
) -> None:
    """Two new people each send two quick messages and the load balancer splits them, so two
    processes record the same new senders in opposite order. Each batch is one transaction:
    on PostgreSQL, taking their address index entries in arrival order made the two wait for
    each other (a deadlock, and a message not recorded)."""
    other = Database(database_url)
    try:
        second = Store(other, cipher)
        for _round in range(5):
            first_person, second_person = uuid.uuid4().hex, uuid.uuid4().hex
            records = await asyncio.gather(
                store.inbound.record_inbound(message("مرحبا", first_person)),
                store.inbound.record_inbound(message("مرحبا", second_person)),
                second.inbound.record_inbound(message("مرحبا", second_person)),
                second.inbound.record_inbound(message("مرحبا", first_person)),
                return_exceptions=True,
            )
            assert all(record is not None for record in records), records
            assert not [record for record in records if isinstance(record, BaseException)]
            contacts = {
                record.contact_id
                for record in records
                if not isinstance(record, BaseException) and record
            }
            assert len(contacts) == 2  # one contact per person, whichever process made it
    finally:
        other.close()
    assert await store.deliveries.count_messages("in") == 20


# -- the outbox -------------------------------------------------------------------------------
async def test_a_burst_of_replies_queues_one_drain_then_one_delivery_job(
    sqlite_store: Store, redis: Redis, profile: Profile, queue: Queue
) -> None:
    router = make_router(sqlite_store, redis, profile, queue, Answering())
    outcomes = await asyncio.gather(*(router.handle(message("hello")) for _ in range(10)))
    outcomes.append(await router.handle(message("hello")))  # while the drain job waits
    reply_ids = sorted(reply_id for outcome in outcomes for reply_id in outcome.reply_ids)
    assert len(reply_ids) == 11
    (first_drain,) = jobs_named(queue, DRAIN_JOB)  # the raised flag kept the others off
    assert jobs_named(queue, DELIVER_JOB) == []

    assert sorted(drain_outbox(queue)) == reply_ids
    # One delivery job carries the whole burst (issue 14: batches, sent concurrently).
    (delivery,) = [job for job in queue.get_jobs() if job.func_name == DELIVER_JOB]
    assert delivery.id == delivery_job_id(queue.name, delivery.args[0])
    assert sorted(delivery.args) == reply_ids
    assert drain_outbox(queue) == []

    await router.handle(message("hello"))
    drains = jobs_named(queue, DRAIN_JOB)
    assert len(drains) == 2 and drains[0] != first_drain  # the new one, at the front
    assert queue.job_ids[0] == drains[0]


# -- the batcher itself -----------------------------------------------------------------------
HANG_SECONDS = 5


async def answers(*calls: Awaitable[int]) -> list[int | BaseException]:
    """Each call's result or exception, in call order. A caller whose future is never
    resolved fails the test after HANG_SECONDS instead of hanging it."""
    async with asyncio.timeout(HANG_SECONDS):
        return list(await asyncio.gather(*calls, return_exceptions=True))


def held_batcher() -> tuple[Batcher[int, int], list[list[int]], asyncio.Event, asyncio.Event]:
    """A batcher whose batches wait for `release` once started; `batches` records them."""
    batches: list[list[int]] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def run(items: list[int]) -> Sequence[int | BaseException]:
        batches.append(items)
        started.set()
        await release.wait()
        return items

    return Batcher(run), batches, started, release


async def test_batcher_answers_each_caller_with_its_own_result() -> None:
    async def run(items: list[int]) -> Sequence[int | BaseException]:
        return [ValueError(item) if item == 3 else item * 10 for item in items]

    batcher: Batcher[int, int] = Batcher(run)
    results = await answers(*(batcher(item) for item in range(6)))
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], ValueError) and results[3].args == (3,)


async def test_batcher_fails_every_caller_of_a_failed_batch_and_goes_on() -> None:
    failing = True

    async def run(items: list[int]) -> Sequence[int | BaseException]:
        if failing:
            raise ConnectionError("database gone")
        return items

    batcher: Batcher[int, int] = Batcher(run)
    results = await answers(*(batcher(item) for item in range(4)))
    assert all(isinstance(result, ConnectionError) for result in results)
    failing = False
    assert await answers(batcher(7), batcher(8)) == [7, 8]


async def test_calls_made_while_a_batch_runs_form_the_next_batch() -> None:
    batcher, batches, started, release = held_batcher()
    first = asyncio.create_task(batcher(0))
    await started.wait()
    meanwhile = [asyncio.create_task(batcher(item)) for item in range(1, 6)]
    release.set()
    assert await answers(first, *meanwhile) == [0, 1, 2, 3, 4, 5]
    assert batches == [[0], [1, 2, 3, 4, 5]]


async def test_batcher_splits_batches_at_max_batch() -> None:
    batches: list[list[int]] = []

    async def run(items: list[int]) -> Sequence[int | BaseException]:
        batches.append(items)
        return items

    batcher: Batcher[int, int] = Batcher(run, max_batch=2)
    assert await answers(*(batcher(item) for item in range(5))) == [0, 1, 2, 3, 4]
    assert batches == [[0, 1], [2, 3], [4]]


async def test_a_cancelled_caller_does_not_disturb_the_others_in_its_batch() -> None:
    batcher, batches, started, release = held_batcher()
    callers = [asyncio.create_task(batcher(item)) for item in range(3)]
    await started.wait()
    callers[1].cancel()
    release.set()
    results = await answers(*callers)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], asyncio.CancelledError)
    assert batches == [[0, 1, 2]]
    assert await answers(batcher(9)) == [9]  # and the batcher still works


async def script_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


async def test_different_lua_steps_called_together_go_as_one_script_call(redis: Redis) -> None:
    steps = ScriptBatch(redis)
    add = steps.add("return redis.call('incrby', KEYS[1], ARG)")
    read = steps.add("return redis.call('get', KEYS[1]) or ''", keys_per_call=1)
    key = f"test:steps:{uuid.uuid4().hex}"
    await add(key, 1)  # loads the script
    before = await script_calls(redis)
    results = await asyncio.gather(add(key, 10), read(key, ""), add(key, 100), read(key, ""))
    assert await script_calls(redis) - before == 1
    assert results == [11, b"11", 111, b"111"]  # in call order
    with pytest.raises(ValueError):
        await add((key, key), 1)
    await redis.delete(key)


# -- SQLite and another process ---------------------------------------------------------------
async def test_sqlite_waits_for_another_process_write_lock(
    sqlite_store: Store, sqlite_path: Path
) -> None:
    address = uuid.uuid4().hex
    assert await sqlite_store.inbound.record_inbound(message("first", address)) is not None
    other = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process (the worker) is writing
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        started = time.monotonic()
        record = await sqlite_store.inbound.record_inbound(message("second", address))
        waited = time.monotonic() - started
    finally:
        other.close()
    assert record is not None
    assert waited >= 0.25
    assert await sqlite_store.deliveries.count_messages("in") == 2


async def test_the_database_file_takes_in_new_messages_within_seconds(
    sqlite_store: Store, sqlite_path: Path
) -> None:
    """The write-ahead log is copied into the database file by a thread of its own, soon
    after writes: a copy of the file is current, and the log does not grow without end."""
    before = sqlite_path.stat().st_size
    await asyncio.gather(
        *(sqlite_store.inbound.record_inbound(message("س" * 400)) for _ in range(200))
    )
    for _ in range(50):  # up to 5 s
        if sqlite_path.stat().st_size > before + 100_000:
            break
        await asyncio.sleep(0.1)
    assert sqlite_path.stat().st_size > before + 100_000
    assert await sqlite_store.deliveries.count_messages("in") == 200


async def test_the_write_ahead_log_starts_again_under_a_steady_stream_of_writes(
    sqlite_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transactions back to back, as on a busy day: the log is copied into the file and
    starts again from its beginning, so it stays near its bound however much is written.
    (A passive copy alone never let it start again while writes went on: bench/inbound.py's
    log grew to 300 MB after 18,000 messages, and every read searched a longer index.)
    The bounds are lowered here so that a few megabytes show it."""
    monkeypatch.setattr(db_module, "CHECKPOINT_EVERY_COMMITS", 10)
    monkeypatch.setattr(db_module, "RESTART_AFTER_PAGES", 100)
    db = Database(f"sqlite:///{sqlite_path}")
    log_file = sqlite_path.with_name(sqlite_path.name + "-wal")
    row = b"x" * 16_000  # about four pages a commit

    def write_back_to_back(commits: int) -> int:
        with db.raw_transaction() as cursor:
            cursor.execute("CREATE TABLE filler (body BLOB)")
        largest = 0
        for _ in range(commits):
            with db.raw_transaction() as cursor:
                cursor.execute("INSERT INTO filler (body) VALUES (?)", (row,))
            largest = max(largest, log_file.stat().st_size)
        return largest

    try:
        largest = await db.run(write_back_to_back, 3000)  # 48 MB written, 74 MB of log
    finally:
        db.close()
    assert largest < 15_000_000


# -- nothing acknowledged and forgotten (issue 10, item 2) ------------------------------------
class Waiting(Handler):
    """Answers "ok", but only once `go` is set when the message is "slow"."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.started = asyncio.Event()

    async def handle(self, turn: Turn) -> None:
        if turn.message.text == "slow":
            self.started.set()
            await self.go.wait()
        turn.say("ok")


async def test_a_turn_cut_off_waiting_for_the_lock_lets_the_retry_through(
    database_url: str, cipher: Cipher, profile: Profile, queue: Queue, store: Store
) -> None:
    """Another process holds the person's lock; this one's turn is cut off while it waits
    (its request timed out, or the wait did). The provider's retry is then handled, not
    answered "duplicate" with the message left recorded and never handled."""
    handler = Waiting()
    address = uuid.uuid4().hex
    async with (
        separate_process(database_url, cipher, profile, queue.name, handler) as first,
        separate_process(database_url, cipher, profile, queue.name, handler) as second,
    ):
        slow = asyncio.create_task(first.handle(message("slow", address)))
        await handler.started.wait()
        waiting = message("hello", address)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.handle(waiting), 0.5)
        handler.go.set()
        assert not (await slow).duplicate
        retry = await second.handle(waiting)
    assert not retry.duplicate
    assert (await only_reply(store, retry))[0] == "ok"
    assert await inbound_rows(store, waiting.provider_id) == 1


async def test_a_claim_left_by_a_killed_process_does_not_turn_the_retry_away(
    store: Store, redis: Redis, profile: Profile, queue: Queue
) -> None:
    """A process killed mid-turn leaves the message recorded and its claim in Redis; its
    "alive" key lapses within seconds, and then the claim no longer counts. A claim of a
    process still alive does: that copy is being handled right now."""
    router = make_router(store, redis, profile, queue, Answering())
    orphan, in_hand = message("hello"), message("hello")
    for copy_of in (orphan, in_hand):
        assert await store.inbound.record_inbound(copy_of) is not None
    await redis.set(f"tawasul:seen:webchat:{orphan.provider_id}", "d1ed0000d1ed0000.7", ex=60)
    await redis.set(f"tawasul:seen:webchat:{in_hand.provider_id}", "a11e0000a11e0000.3", ex=60)
    await redis.set("tawasul:alive:a11e0000a11e0000", "1", ex=60)

    retried = await router.handle(orphan)
    assert (await only_reply(store, retried))[0] == "ok"
    assert (await router.handle(in_hand)).duplicate
    assert await store.deliveries.count_messages("in", "received") == 1  # in_hand's turn


async def test_two_turns_of_one_message_save_only_the_first(store: Store) -> None:
    """Past every claim (an owner thought dead that was only slow), two turns of the same
    recorded message both reach the database: the first is saved, the second saves nothing
    at all — neither its replies nor what it filed."""
    record = await store.inbound.record_inbound(message("hello"))
    assert record is not None
    results = await asyncio.gather(
        store.inbound.save_turn(record, "webchat", {"n": 1}, [OutboundMessage("one")], []),
        store.inbound.save_turn(record, "webchat", {"n": 2}, [OutboundMessage("two")], []),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["AlreadyHandled", "list"]
    with pytest.raises(AlreadyHandled):
        await store.inbound.save_turn(record, "webchat", {"n": 3}, [OutboundMessage("3")], [])
    assert await store.deliveries.count_messages("out") == 1
    assert await store.deliveries.count_messages("in", "handled") == 1


async def test_a_reply_that_cannot_be_queued_leaves_the_message_acknowledged(
    store: Store, redis: Redis, profile: Profile, queue: Queue
) -> None:
    """Redis for the outbox is away after the turn was saved: the message is handled and
    acknowledged (a 503 would only bring a retry answered "handled already"), and its reply
    waits in the database, queued, for the worker's outbox sweep."""
    away = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    router = Router(
        store,
        redis,
        QueueOutbox(queue, away),
        Dispatcher([Answering()], {}, MenuHandler({})),
        profile,
    )
    outcome = await router.handle(message("hello"))
    (reply_id,) = outcome.reply_ids
    delivery = await store.deliveries.delivery(reply_id)
    assert delivery is not None and delivery.status.value == "queued"
    assert await store.deliveries.stranded_outbound(timedelta(0)) == [reply_id]
    await away.aclose()
