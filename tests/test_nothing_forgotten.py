"""Nothing acknowledged and forgotten (issue 10, item 2): a message recorded when its web
process is SIGKILLed mid-burst, or while Redis is frozen, is still handled exactly once —
by the provider's retry, or by the worker's inbound sweep when the retry was turned away.

Real processes throughout: `tawasul serve` and `tawasul worker` over SQLite, a redis-server
of the test's own (tests/processes.py), and the fake Twilio API as the provider; each
beneficiary is a phone writing one SMS, retried as a provider retries until it gets 200.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Engine, create_engine, select

from bot.tables import Message
from tests.fakes.server import running
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, new_sid, payload, sign
from tests.processes import Gateway, RedisServer, gateway, redis_server
from tests.waiting import eventually_async

SMS_FROM = "+12025550143"
INBOUND = "/webhooks/twilio"
BURST = 150
_numbers = count(1)


def new_phone() -> str:
    return f"+9665{70000000 + next(_numbers):08d}"


def sms(phone: str, text: str = "مرحبا") -> dict[str, str]:
    sid = new_sid("SM")
    return payload(
        "sms_text",
        From=phone,
        MessageSid=sid,
        SmsMessageSid=sid,
        SmsSid=sid,
        Body=text,
        AccountSid=ACCOUNT_SID,
    )


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def live(tmp_path: Path, own_redis: RedisServer, fake: FakeTwilio) -> Iterator[Gateway]:
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_API_BASE": fake.url,
        "TAWASUL_SWEEP_SECONDS": "2",  # the inbound sweep looks often, so the test is short
    }
    with gateway(tmp_path, own_redis.url, env) as gw:
        gw.start_serve()
        gw.start_worker()
        yield gw


async def post_until_acknowledged(
    http: aiohttp.ClientSession, gw: Gateway, form: dict[str, str], acknowledged: Callable[[], None]
) -> None:
    """What a provider does: post the signed webhook again, after a short wait, until it is
    answered 200 (a dead process, a 503, a request that hangs all count as "try again")."""
    url = gw.url + INBOUND
    headers = {"X-Twilio-Signature": sign(url, form)}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            timeout = aiohttp.ClientTimeout(total=3)
            async with http.post(url, data=form, headers=headers, timeout=timeout) as response:
                await response.read()
                if response.status == 200:
                    acknowledged()
                    return
        except (TimeoutError, aiohttp.ClientError):
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"{form['MessageSid']} was never acknowledged")


@functools.cache
def _engine(url: str) -> Engine:
    return create_engine(url)


def inbound_statuses(gw: Gateway, sids: list[str]) -> dict[str, str]:
    """The stored status of each of these inbound messages (missing: never recorded)."""
    with _engine(gw.database_url).connect() as connection:
        rows = connection.execute(
            select(Message.provider_id, Message.status).where(
                Message.direction == "in", Message.provider_id.in_(sids)
            )
        ).all()
    assert len({sid for sid, _ in rows}) == len(rows)  # each recorded once
    return {str(sid): str(status) for sid, status in rows}


async def wait_all_handled(gw: Gateway, sids: list[str], within: float = 90) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        statuses = await asyncio.to_thread(inbound_statuses, gw, sids)
        if len(statuses) == len(sids) and set(statuses.values()) == {"handled"}:
            return
        await asyncio.sleep(0.5)
    waiting = {sid: status for sid, status in statuses.items() if status != "handled"}
    raise AssertionError(
        f"{len(sids) - len(statuses)} never recorded, {len(waiting)} never handled: {waiting}"
    )


async def replies_per_phone(
    http: aiohttp.ClientSession, gw: Gateway, fake: FakeTwilio, phones: list[str]
) -> dict[str, int]:
    """How many replies reached each phone, once all due have arrived: first a wait until
    each phone has one (a lost reply shows as 0 after it), then a barrier, not a sleep —
    once a newcomer's reply queued now has arrived, any second reply still due has too (the
    worker gives its places in queue order; sends side by side may pass each other, so the
    wait comes first)."""
    await eventually_async(
        lambda: all(fake.sent_to(phone) for phone in phones), "a reply to every phone", 90
    )
    newcomer = new_phone()
    await post_until_acknowledged(http, gw, sms(newcomer), lambda: None)
    # A killed process's contact locks lapse after 30 s: the barrier waits past that.
    await asyncio.to_thread(fake.wait_sent, newcomer, 1, 90.0)
    return {phone: len(fake.sent_to(phone)) for phone in phones}


async def burst(
    http: aiohttp.ClientSession,
    gw: Gateway,
    forms: list[dict[str, str]],
    fault_after: int,
    fault: Callable[[], None],
) -> None:
    """Every message posted at once, each retried until acknowledged; `fault` runs (in a
    thread) once `fault_after` of them were acknowledged, while the rest are in flight."""
    done = 0
    reached = asyncio.Event()

    def acknowledged() -> None:
        nonlocal done
        done += 1
        if done >= fault_after:
            reached.set()

    senders = [
        asyncio.create_task(post_until_acknowledged(http, gw, form, acknowledged)) for form in forms
    ]
    await reached.wait()
    await asyncio.to_thread(fault)
    await asyncio.gather(*senders)


async def test_a_sigkill_mid_burst_loses_no_message_and_doubles_none(
    live: Gateway, fake: FakeTwilio
) -> None:
    phones: list[str] = []
    sids: list[str] = []
    cut_off: dict[str, str] = {}

    def kill_and_restart() -> None:
        """SIGKILL the web process at a moment when a message is recorded and unhandled
        (seen in the database just before), then start it again."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if "received" in inbound_statuses(live, sids).values():
                break
            time.sleep(0.005)
        live.kill_serve()
        statuses = inbound_statuses(live, sids)
        cut_off.update({sid: s for sid, s in statuses.items() if s != "handled"})
        live.start_serve()

    connector = aiohttp.TCPConnector(limit=40)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _round in range(4):  # until a kill lands mid-turn; the first one nearly always does
            batch = [new_phone() for _ in range(BURST)]
            forms = [sms(phone) for phone in batch]
            phones += batch
            sids += [form["MessageSid"] for form in forms]
            await burst(http, live, forms, BURST // 3, kill_and_restart)
            if cut_off:
                break
        await wait_all_handled(live, sids)
        replies = await replies_per_phone(http, live, fake, phones)

    assert cut_off, "no kill landed where a message was recorded and unhandled"
    # A newcomer's "مرحبا" gets one reply (the greeting with the menu): exactly one each.
    assert replies == {phone: 1 for phone in phones}, {p: n for p, n in replies.items() if n != 1}
    assert live.worker is not None and live.worker.poll() is None


async def test_a_frozen_redis_mid_burst_loses_no_message_and_doubles_none(
    live: Gateway, own_redis: RedisServer, fake: FakeTwilio
) -> None:
    phones = [new_phone() for _ in range(BURST)]
    forms = [sms(phone) for phone in phones]
    sids = [form["MessageSid"] for form in forms]

    def freeze_for_a_while() -> None:
        own_redis.freeze()
        time.sleep(8)  # the fault itself: Redis answers nothing for 8 s
        own_redis.thaw()

    connector = aiohttp.TCPConnector(limit=40)
    async with aiohttp.ClientSession(connector=connector) as http:
        await burst(http, live, forms, BURST // 3, freeze_for_a_while)
        await wait_all_handled(live, sids)
        replies = await replies_per_phone(http, live, fake, phones)

    assert replies == {phone: 1 for phone in phones}, {p: n for p, n in replies.items() if n != 1}
