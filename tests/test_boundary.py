"""The inbound boundary against what a hostile or unlucky client sends (issue 10, items 1, 7
and 8), on a live `tawasul serve` + `tawasul worker` with WhatsApp (Meta), Telegram and
Twilio on, their providers faked: text that is not valid Unicode is repaired, recorded and
answered; requests that used to cost a 503 and a traceback get a 4xx and no traceback; and
what the web chat keeps in Redis is not readable there."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from yarl import URL

from bot.crypto import Cipher
from bot.rate_limit import Limit, RateLimiter
from bot.tables import ContactAddress, Message
from bot.text import repair_unicode
from channels.webchat import valid_cursor
from tests.chat_client import ChatClient
from tests.conftest import LiveGateway, launch_gateway
from tests.fakes import twilio as tw
from tests.fakes.server import running
from tests.fakes.telegram import FakeBotAPI
from tests.fakes.whatsapp import FakeGraphAPI
from tests.fixtures import telegram as updates
from tests.fixtures import whatsapp as wa
from tests.journeys import database

TELEGRAM_TOKEN = "123:ABC"
TELEGRAM_SECRET = "tawasul-boundary_secret-7"
REPLACEMENT = "\ufffd"
GREETING_START = "أهلًا بك"  # any reply to a first message starts with the greeting

_ids = itertools.count(7_100_000)


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with running(FakeGraphAPI(wa.TOKEN, wa.PHONE_NUMBER_ID)) as fake:
        yield fake


@pytest.fixture(scope="module")
def bot_api() -> Iterator[FakeBotAPI]:
    with running(FakeBotAPI(TELEGRAM_TOKEN)) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, graph: FakeGraphAPI, bot_api: FakeBotAPI
) -> Iterator[LiveGateway]:
    env = {
        **wa.gateway_env(graph.url),
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "TELEGRAM_API_BASE": bot_api.url + "/bot",
        "TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": tw.AUTH_TOKEN,
        "TWILIO_SMS_FROM": "+15005550006",
        "TWILIO_API_BASE": "http://127.0.0.1:9",
    }
    with launch_gateway(tmp_path_factory.mktemp("boundary"), env) as live:
        yield live


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def lone_surrogate_json(payload: dict[str, Any], marker: str, raw_bytes: bool) -> bytes:
    """The payload as JSON where `marker` stands for a lone surrogate: the escape `\\ud800`,
    or the raw bytes ED A0 80 (what a broken encoder writes)."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body.replace(marker.encode(), b"\xed\xa0\x80" if raw_bytes else b"\\ud800")


def stored_inbound(gateway: LiveGateway, cipher: Cipher, address: str) -> list[str]:
    with database(gateway.database_url) as db:
        found = db.scalar(
            select(ContactAddress).where(ContactAddress.address_hash == cipher.lookup_hash(address))
        )
        assert found is not None, "the message was not recorded"
        return list(
            db.scalars(
                select(Message.body).where(
                    Message.address_id == found.id, Message.direction == "in"
                )
            )
        )


class LogWatch:
    """What the serve log gains while a block runs."""

    def __init__(self, gateway: LiveGateway) -> None:
        self.path = gateway.var_dir / "logs" / "serve.log"
        self.start = 0

    def __enter__(self) -> LogWatch:
        self.start = self.path.stat().st_size
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def new(self) -> str:
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            return handle.read().decode(errors="replace")


# -- item 1: a lone surrogate is repaired, recorded and answered ---------------------------------
@pytest.mark.parametrize("raw_bytes", [False, True], ids=["escape", "raw-bytes"])
async def test_whatsapp_message_with_a_lone_surrogate_is_recorded_and_answered(
    http: aiohttp.ClientSession,
    gateway: LiveGateway,
    graph: FakeGraphAPI,
    cipher: Cipher,
    raw_bytes: bool,
) -> None:
    phone = f"96656{next(_ids):07d}"
    body = lone_surrogate_json(wa.text(phone, "مرحبا MARK"), "MARK", raw_bytes)
    async with http.post(gateway.url + "/webhooks/whatsapp", data=body, headers=wa.sign(body)) as r:
        assert r.status == 200, await r.text()
    replies = await asyncio.to_thread(
        graph.wait_for,
        lambda r: r.method == "POST" and isinstance(r.json, dict) and r.json.get("to") == phone,
        1,
        20.0,
    )
    assert GREETING_START in json.dumps(replies[0].json, ensure_ascii=False)
    assert stored_inbound(gateway, cipher, "+" + phone) == [f"مرحبا {REPLACEMENT}"]


@pytest.mark.parametrize("raw_bytes", [False, True], ids=["escape", "raw-bytes"])
async def test_telegram_message_with_a_lone_surrogate_is_recorded_and_answered(
    http: aiohttp.ClientSession,
    gateway: LiveGateway,
    bot_api: FakeBotAPI,
    cipher: Cipher,
    raw_bytes: bool,
) -> None:
    chat = next(_ids)
    body = lone_surrogate_json(updates.text(next(_ids), chat, "مرحبا MARK"), "MARK", raw_bytes)
    headers = {
        "Content-Type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
    }
    async with http.post(gateway.url + "/webhooks/telegram", data=body, headers=headers) as r:
        assert r.status == 200, await r.text()
    (reply,) = await asyncio.to_thread(bot_api.wait_calls, "sendMessage", 1, 20.0, chat_id=chat)
    assert GREETING_START in str(reply["text"])
    assert stored_inbound(gateway, cipher, str(chat)) == [f"مرحبا {REPLACEMENT}"]


@pytest.mark.parametrize("raw_bytes", [False, True], ids=["escape", "raw-bytes"])
async def test_web_chat_message_with_a_lone_surrogate_is_recorded_and_answered(
    http: aiohttp.ClientSession, gateway: LiveGateway, cipher: Cipher, raw_bytes: bool
) -> None:
    chat = await ChatClient(http, gateway.url).start()
    payload = {"session": chat.session, "text": "مرحبا MARK", "client_id": "MARK-1"}
    body = lone_surrogate_json(payload, "MARK", raw_bytes)
    headers = {"Content-Type": "application/json"}
    async with http.post(gateway.url + "/chat/api/messages", data=body, headers=headers) as r:
        assert r.status == 202, await r.text()
    (reply,) = await chat.replies(1)
    assert GREETING_START in reply["text"]
    session_id = chat.session.split(".")[0]
    assert stored_inbound(gateway, cipher, session_id) == [f"مرحبا {REPLACEMENT}"]
    # And the conversation goes on: the next message is answered too.
    assert (await chat.post("1")).status == 202
    await chat.replies(1)


# -- item 8: cheap unauthenticated requests get a 4xx and no traceback ---------------------------
def _deep(depth: int) -> bytes:
    return b'{"session": "x", "text": ' + b"[" * depth + b"]" * depth + b"}"


async def test_requests_that_cost_a_traceback_get_a_4xx_and_one_line(
    http: aiohttp.ClientSession, gateway: LiveGateway
) -> None:
    chat = await ChatClient(http, gateway.url).start()
    raw, _, signature = chat.session.partition(".")
    url = gateway.url
    feed = f"{url}/chat/api/messages"
    form = {"From": "+966501234567", "To": "+15005550006", "Body": "hi", "MessageSid": "SM1"}
    with LogWatch(gateway) as log:
        statuses = []
        async with http.post(
            f"{url}/webhooks/twilio",
            data="&".join(f"{k}={v}" for k, v in form.items()),
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=bogus",
                "X-Twilio-Signature": tw.sign(url + "/webhooks/twilio", form),
            },
        ) as r:
            statuses.append(("twilio charset", r.status))
        deep = {"Content-Type": "application/json"}
        async with http.post(feed, data=_deep(100_000), headers=deep) as r:
            statuses.append(("deep json", r.status))
        for name, token in [
            ("non-ascii signature", f"{raw}.{'ب' * len(signature)}"),
            ("surrogate", f"{raw}.{signature[:-1]}\ud800"),
        ]:
            body = json.dumps({"session": token, "text": "hi"}).encode()
            async with http.post(feed, data=body, headers=deep) as r:
                statuses.append((f"post {name}", r.status))
            async with http.get(
                feed,
                params={
                    "session": token.encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
                    "after": "0-0",
                },
            ) as r:
                statuses.append((f"poll {name}", r.status))
        raw_url = URL(f"{feed}?session={raw}.%ED%A0%80{signature[3:]}&after=0-0", encoded=True)
        async with http.get(raw_url) as r:
            statuses.append(("poll raw bytes", r.status))
        for cursor in ["99999999999999999999-0", "٣-٠", "18446744073709551616-0", "-1-0"]:
            params = {"session": chat.session, "after": cursor}
            async with http.get(feed, params=params) as r:
                statuses.append((f"cursor {cursor}", r.status))
        params = {"session": chat.session, "after": "18446744073709551615-0"}
        async with http.get(feed, params=params) as r:
            statuses.append(("largest cursor", r.status))  # the largest id Redis takes is fine
    assert [(name, status) for name, status in statuses if not 400 <= status < 500] == [
        ("largest cursor", 200)
    ]
    written = log.new()
    assert len(written.splitlines()) <= len(statuses)  # at most one line each
    assert "Traceback" not in written
    assert "unhandled error" not in written


# -- item 7: what the web chat keeps in Redis is sealed and expires ------------------------------
async def test_web_chat_replies_are_not_readable_in_redis_and_expire(
    http: aiohttp.ClientSession, gateway: LiveGateway
) -> None:
    chat = await ChatClient(http, gateway.url).start()
    greeting = await chat.say("مرحبا")
    assert GREETING_START in greeting["text"]
    redis = Redis.from_url(gateway.env["TAWASUL_REDIS_URL"])
    try:
        key = f"tawasul:webchat:{chat.session.split('.')[0]}"
        entries = await redis.xrange(key)
        assert entries, "the reply feed is in Redis"
        stored = b" ".join(
            b" ".join(k + b"=" + v for k, v in fields.items()) for _, fields in entries
        )
        assert GREETING_START.encode() not in stored
        assert "القائمة".encode() not in stored and b"text" not in stored
        ttl = await redis.ttl(key)
        assert 0 < ttl <= 24 * 3600
    finally:
        await redis.aclose()


# -- the pieces, on their own --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "repaired"),
    [
        ("سلام", "سلام"),
        ("a\ud800b", "a\ufffdb"),
        ("\udc00\ud800", "\ufffd\ufffd"),
        ("\ud83d\ude00", "\U0001f600"),  # a pair written apart (CESU-8) is joined back
        (json.loads(b'"\xed\xa0\x80x"'), "\ufffdx"),  # what the JSON reader makes of ED A0 80
    ],
)
def test_repair_unicode(text: str, repaired: str) -> None:
    assert repair_unicode(text) == repaired
    repair_unicode(text).encode("utf-8")  # storable


@pytest.mark.parametrize(
    ("cursor", "valid"),
    [
        ("0-0", True),
        ("1796152458735-12", True),
        ("18446744073709551615-18446744073709551615", True),
        ("18446744073709551616-0", False),
        ("99999999999999999999-0", False),
        ("٣-٠", False),
        ("۳-۰", False),
        ("1", False),
        ("-1-0", False),
        ("01-0", False),
        ("$", False),
    ],
)
def test_reply_feed_cursors(cursor: str, valid: bool) -> None:
    assert valid_cursor(cursor) is valid


async def test_rate_limiter_counts_per_identity_and_tells_once(redis: Redis) -> None:
    limiter = RateLimiter(redis)
    limit = Limit(f"test-{next(_ids)}", 3, 60)
    verdicts = [await limiter.hit([(limit, "alice")]) for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False, False]
    assert [v.tell_sender for v in verdicts] == [False, False, False, True, False, False]
    assert all(1 <= v.retry_after <= 60 for v in verdicts[3:])
    assert (await limiter.hit([(limit, "bob")])).allowed  # someone else is not held up
    off = RateLimiter(redis, enabled=False)  # TAWASUL_RATE_LIMITS=off
    assert (await off.hit([(limit, "alice")])).allowed
    assert (await limiter.hit([(Limit(limit.scope, 0, 60), "alice")])).allowed  # 0 = no limit
