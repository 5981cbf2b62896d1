"""One sender cannot flood the others out (issue 10, items 3 and 4), on a live `tawasul serve`
+ `tawasul worker` with small limits: a web-chat flooder is answered 429 past its limit and
a Telegram flooder is recorded but not answered (told so once, in their language), while
a normal beneficiary's reply still arrives promptly; long polls are bounded per session and
per process, and a crowd of them leaves everyone's reply feed working.

The gateway trusts X-Forwarded-For here, so each test's browsers come from addresses of
their own and the per-address limits of one test do not spill into another's."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.crypto import Cipher
from bot.tables import ContactAddress, Message
from tests.chat_client import ChatClient
from tests.conftest import LiveGateway, launch_gateway
from tests.fakes.server import running
from tests.fakes.telegram import FakeBotAPI
from tests.fixtures import telegram as updates
from tests.journeys import database

TELEGRAM_TOKEN = "123:ABC"
TELEGRAM_SECRET = "tawasul-flood_secret-9"
SENDER_LIMIT = 5
CLIENT_LIMIT = 20
SESSIONS_LIMIT = 8
POLLS_PER_PROCESS = 40
SLOW_DOWN_AR = "وصلتنا منك رسائل كثيرة في وقت قصير"
OPTED_OUT_AR = "لن تصلك رسائل التحديثات"
PROMPT_SECONDS = 3.0  # what "promptly" means here, on a small shared test machine

_ids = itertools.count(8_200_000)
_addresses = itertools.count(1)


def new_address() -> str:
    n = next(_addresses)
    return f"198.51.{n // 250}.{n % 250 + 1}"


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotAPI]:
    with running(FakeBotAPI(TELEGRAM_TOKEN)) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, bot_api: FakeBotAPI) -> Iterator[LiveGateway]:
    env = {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_API_BASE": bot_api.url + "/bot",
        "TAWASUL_SENDER_MESSAGES_PER_MINUTE": str(SENDER_LIMIT),
        "TAWASUL_CLIENT_MESSAGES_PER_MINUTE": str(CLIENT_LIMIT),
        "TAWASUL_CLIENT_SESSIONS_PER_HOUR": str(SESSIONS_LIMIT),
        "TAWASUL_POLLS_PER_PROCESS": str(POLLS_PER_PROCESS),
        "TAWASUL_TRUST_FORWARDED_FOR": "true",
    }
    with launch_gateway(tmp_path_factory.mktemp("flood"), env) as live:
        yield live


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No connection cap: the tests hold many requests open at once.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def clear_of_a_minute_boundary(margin: float = 20.0) -> None:
    """The per-minute limits count in fixed minutes: a burst that straddles one is counted in
    two, and lets twice the limit through. Start a burst at least `margin` seconds before the
    next minute begins."""
    left = 60 - time.time() % 60
    if left < margin:
        await asyncio.sleep(left + 0.1)


async def timed_reply(chat: ChatClient, text: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    reply = await chat.say(text)
    return reply, time.perf_counter() - started


# -- item 3: the web chat ------------------------------------------------------------------------
async def test_a_web_chat_flooder_gets_429_and_a_normal_visitor_is_answered_promptly(
    gateway: LiveGateway,
) -> None:
    flooder = await browser_started(gateway, new_address())
    visitor = await browser_started(gateway, new_address())
    try:
        _, baseline = await timed_reply(visitor, "مرحبا")

        async def flood() -> list[aiohttp.ClientResponse]:
            return list(await asyncio.gather(*(flooder.post(f"رسالة {n}") for n in range(200))))

        await clear_of_a_minute_boundary()
        flooding = asyncio.create_task(flood())
        reply, during = await timed_reply(visitor, "1")
        answers = await flooding
        statuses = [r.status for r in answers]
        assert statuses.count(202) == SENDER_LIMIT, collections.Counter(statuses)
        assert statuses.count(429) == 200 - SENDER_LIMIT, collections.Counter(statuses)
        refused = next(r for r in answers if r.status == 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert reply["text"]  # the visitor's second message is answered, during the flood
        assert during < PROMPT_SECONDS, f"reply took {during:.2f} s during a flood"
        print(f"\nvisitor's reply: {baseline:.3f} s before the flood, {during:.3f} s during it")
        # The flooder's accepted messages are handled as anyone's (the first is greeted).
        (greeting, *_) = await flooder.replies(1)
        assert "أهلًا بك" in greeting["text"]
    finally:
        await flooder.http.close()
        await visitor.http.close()


async def browser_started(gateway: LiveGateway, address: str) -> ChatClient:
    client = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), headers={"X-Forwarded-For": address}
    )
    return await ChatClient(client, gateway.url).start()


async def test_many_sessions_from_one_address_are_limited_together(gateway: LiveGateway) -> None:
    address = new_address()
    chats = [await browser_started(gateway, address) for _ in range(6)]  # each under its own
    try:
        statuses = []
        await clear_of_a_minute_boundary()
        for n in range(CLIENT_LIMIT + 4):
            chat = chats[n % len(chats)]
            statuses.append((await chat.post(f"مرحبا {n}")).status)
        assert statuses == [202] * CLIENT_LIMIT + [429] * 4
        # Another address is not held up by it.
        other = await browser_started(gateway, new_address())
        try:
            assert (await other.post("مرحبا")).status == 202
        finally:
            await other.http.close()
    finally:
        for chat in chats:
            await chat.http.close()


async def test_new_sessions_from_one_address_are_limited(
    http: aiohttp.ClientSession, gateway: LiveGateway
) -> None:
    headers = {"X-Forwarded-For": new_address()}
    statuses = []
    for _ in range(SESSIONS_LIMIT + 2):
        async with http.post(f"{gateway.url}/chat/api/session", headers=headers) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) >= 1
    assert statuses == [201] * SESSIONS_LIMIT + [429] * 2


# -- item 3: a provider channel (Telegram) -------------------------------------------------------
async def post_update(
    http: aiohttp.ClientSession, gateway: LiveGateway, update: dict[str, Any]
) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
    }
    async with http.post(
        gateway.url + "/webhooks/telegram", data=json.dumps(update), headers=headers
    ) as r:
        await r.read()
        return r.status


async def test_a_telegram_flooder_is_recorded_told_once_and_others_are_answered_promptly(
    http: aiohttp.ClientSession, gateway: LiveGateway, bot_api: FakeBotAPI, cipher: Cipher
) -> None:
    flooder, visitor = next(_ids), next(_ids)
    sent = 60

    async def say(chat: int, text: str) -> int:
        return await post_update(http, gateway, updates.text(next(_ids), chat, text))

    async def reply_time(chat: int, text: str, nth: int) -> float:
        started = time.perf_counter()
        assert await say(chat, text) == 200
        await asyncio.to_thread(bot_api.wait_calls, "sendMessage", nth, 20.0, chat_id=visitor)
        return time.perf_counter() - started

    baseline = await reply_time(visitor, "مرحبا", 1)
    flooding = asyncio.gather(*(say(flooder, f"رسالة {n}") for n in range(sent)))
    during = await reply_time(visitor, "1", 2)
    statuses = await flooding
    assert statuses == [200] * sent  # the provider is answered 2xx: it must not retry
    print(f"\ntelegram reply: {baseline:.3f} s before a flood, {during:.3f} s during it")
    assert during < PROMPT_SECONDS, f"reply took {during:.2f} s during a flood"

    # Over the limit, an opt-out still works at once.
    assert await say(flooder, "إيقاف") == 200
    deadline = time.monotonic() + 20
    while not any(OPTED_OUT_AR in text for text in bot_api.texts(flooder)):
        assert time.monotonic() < deadline, bot_api.texts(flooder)
        await asyncio.sleep(0.05)
    # One person's messages go out in order, so the notice came before this confirmation.
    # Barrier: a newcomer's greeting, queued after everything above, has arrived.
    newcomer = next(_ids)
    assert await say(newcomer, "مرحبا") == 200
    await asyncio.to_thread(bot_api.wait_calls, "sendMessage", 1, 20.0, chat_id=newcomer)
    texts = bot_api.texts(flooder)
    # Only what the first few messages earned, ONE notice, and the opt-out's confirmation:
    # not an answer to each of the 60.
    assert len(texts) <= 2 * SENDER_LIMIT + 2, texts
    assert sum(SLOW_DOWN_AR in text for text in texts) == 1, texts
    assert OPTED_OUT_AR in texts[-1]
    # Nothing is lost: every message the flooder sent is recorded.
    with database(gateway.database_url) as db:
        address = db.scalar(
            select(ContactAddress).where(
                ContactAddress.address_hash == cipher.lookup_hash(str(flooder))
            )
        )
        assert address is not None
        recorded = db.scalar(
            select(func.count()).where(Message.address_id == address.id, Message.direction == "in")
        )
    assert recorded == sent + 1


# -- item 4: long polls ---------------------------------------------------------------------------
async def test_a_session_holds_at_most_two_long_polls(gateway: LiveGateway) -> None:
    chat = await browser_started(gateway, new_address())
    try:
        url = f"{gateway.url}/chat/api/messages"
        params = {"session": chat.session, "after": "0-0", "wait": "3"}

        async def poll() -> tuple[int, str | None]:
            async with chat.http.get(url, params=params) as r:
                await r.read()
                return r.status, r.headers.get("Retry-After")

        results = await asyncio.gather(*(poll() for _ in range(5)))
        assert sorted(status for status, _ in results) == [200, 200, 429, 429, 429]
        assert all(after == "1" for status, after in results if status == 429)
        # Once they are over, the session polls again as usual.
        assert (await poll())[0] == 200
    finally:
        await chat.http.close()


async def test_a_crowd_of_long_polls_leaves_every_feed_working(gateway: LiveGateway) -> None:
    crowd = [await browser_started(gateway, new_address()) for _ in range(POLLS_PER_PROCESS + 30)]
    visitor = await browser_started(gateway, new_address())
    try:
        url = f"{gateway.url}/chat/api/messages"

        async def hang(chat: ChatClient) -> tuple[int, float, str | None]:
            started = time.perf_counter()
            params = {"session": chat.session, "after": "0-0", "wait": "8"}
            async with chat.http.get(url, params=params) as r:
                await r.read()
                return r.status, time.perf_counter() - started, r.headers.get("Retry-After")

        hanging = asyncio.gather(*(hang(chat) for chat in crowd))
        await asyncio.sleep(0)  # let them start; the visitor's reply below waits for nothing
        reply, took = await timed_reply(visitor, "مرحبا")
        assert reply["text"]
        assert took < PROMPT_SECONDS, f"reply took {took:.2f} s beside {len(crowd)} long polls"
        results = await hanging
        assert {status for status, _, _ in results} == {200}
        answered_at_once = [r for r in results if r[2] is not None]
        assert len(answered_at_once) >= 30  # beyond the process's bound: a read, then "later"
        assert all(seconds < 5 for _, seconds, _ in answered_at_once)
    finally:
        for chat in [*crowd, visitor]:
            await chat.http.close()
