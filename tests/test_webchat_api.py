"""The web chat API end to end: a live `tawasul serve` + `tawasul worker` on real Redis and
SQLite, driven as the browser drives it, with the stored records checked afterwards."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.crypto import Cipher
from bot.db import Database
from bot.tables import ConsentRecord, Contact, ContactAddress, Message
from tests.chat_client import ChatClient
from tests.conftest import LiveGateway
from tests.journeys import MENU_AR

ARABIC_NAME = "جمعية البر الخيرية النموذجية"
ENGLISH_NAME = "Model Charity Association"


@pytest.fixture
async def chat(http: aiohttp.ClientSession, live_gateway: LiveGateway) -> ChatClient:
    return await ChatClient(http, live_gateway.url).start()


def titles(reply: dict) -> list[str]:
    return [button["title"] for button in reply["buttons"]]


async def test_greeting_menu_language_switch_and_opt_out(
    chat: ChatClient, live_gateway: LiveGateway, cipher: Cipher
) -> None:
    before = datetime.now(UTC)
    greeting = await chat.say("مرحبا")
    assert ARABIC_NAME in greeting["text"]
    assert titles(greeting) == MENU_AR

    # A menu number, typed with Arabic-Indic digits, starts the support request.
    await chat.post("٢")
    intro, question = await chat.replies(2)
    assert intro["text"].startswith("لنعبّئ طلب الدعم معًا")
    assert question["text"].startswith("السؤال 1 من 11")

    # Switch to English with the menu's last button, then back by typing the word.
    english = await chat.say("English", button_id="lang:en")
    assert english["text"].startswith("From now on I will answer in English.")
    assert titles(english)[0] == "Questions and answers"
    assert titles(english)[-1] == "العربية"
    hello = await chat.say("hello")
    assert f"Welcome to {ENGLISH_NAME}!" in hello["text"]
    arabic = await chat.say("عربي")
    assert arabic["text"].startswith("سأجيبك من الآن باللغة العربية.")

    # Opt out with the Arabic word, in the middle of anything.
    stopped = await chat.say("إيقاف")
    assert "لن تصلك رسائل التحديثات" in stopped["text"]
    assert ARABIC_NAME in stopped["text"]

    # The records: the opt-out with its time and channel, every message in and out.
    session_id = chat.session.split(".")[0]
    database = Database(live_gateway.database_url)
    # The browser may see the last reply a moment before the worker records it as sent.
    await wait_until_sent(database, cipher.lookup_hash(session_id))
    with database.sessions() as db:
        address = db.scalar(
            select(ContactAddress).where(
                ContactAddress.address_hash == cipher.lookup_hash(session_id)
            )
        )
        assert address is not None and address.kind == "webchat"
        contact = db.get(Contact, address.contact_id)
        assert contact is not None and contact.language == "ar"
        consent = db.scalars(
            select(ConsentRecord).where(ConsentRecord.contact_id == address.contact_id)
        ).all()
        messages = db.scalars(
            select(Message).where(Message.address_id == address.id).order_by(Message.id)
        ).all()
    database.close()
    assert [(c.purpose, c.granted, c.channel, c.source) for c in consent] == [
        ("updates", False, "webchat", "keyword")
    ]
    assert before - timedelta(seconds=1) <= consent[0].created_at <= datetime.now(UTC)
    assert consent[0].wording_version
    inbound = [m for m in messages if m.direction == "in"]
    outbound = [m for m in messages if m.direction == "out"]
    assert [m.body for m in inbound] == ["مرحبا", "٢", "English", "hello", "عربي", "إيقاف"]
    assert all(m.status == "handled" for m in inbound)
    assert len(outbound) == 7 and all(m.status == "sent" for m in outbound)
    assert outbound[-1].body == stopped["text"]


async def wait_until_sent(database: Database, address_hash: str, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        with database.sessions() as db:
            queued = db.scalar(
                select(func.count(Message.id))
                .join(ContactAddress, ContactAddress.id == Message.address_id)
                .where(
                    ContactAddress.address_hash == address_hash,
                    Message.direction == "out",
                    Message.status == "queued",
                )
            )
        if not queued:
            return
        await asyncio.sleep(0.05)


async def test_start_after_stop_opts_in_again(chat: ChatClient) -> None:
    await chat.say("hello")
    assert "no longer receive updates" in (await chat.say("STOP"))["text"]
    assert "you are subscribed to updates" in (await chat.say("start"))["text"]


async def test_unclear_message_gets_the_menu_again(chat: ChatClient) -> None:
    await chat.say("مرحبا")
    reply = await chat.say("بلا بلا")
    assert reply["text"].startswith("عذرًا، لم أفهم رسالتك.")
    assert len(reply["buttons"]) == 8


async def test_a_retried_message_is_answered_once(chat: ChatClient) -> None:
    client_id = uuid.uuid4().hex
    first = await chat.post("مرحبا", client_id=client_id)
    second = await chat.post("مرحبا", client_id=client_id)
    assert first.status == second.status == 202
    await chat.replies(1)
    await chat.quiet()


async def test_two_quick_messages_are_answered_in_order(chat: ChatClient) -> None:
    await chat.say("مرحبا")
    await chat.post("English", button_id="lang:en")
    await chat.post("2")
    first, second, third = await chat.replies(3)
    assert first["text"].startswith("From now on I will answer in English.")
    assert second["text"].startswith("Let us fill in the support request together")
    assert third["text"].startswith("Question 1 of 11")


async def test_bad_requests_get_clear_4xx(
    http: aiohttp.ClientSession, chat: ChatClient, live_gateway: LiveGateway
) -> None:
    url = f"{live_gateway.url}/chat/api/messages"
    forged = {"session": "made-up.0123456789abcdef0123456789abcdef", "text": "hi"}
    async with http.post(url, json=forged) as response:
        assert response.status == 403
        assert (await response.json()) == {"error": "signature check failed"}
    async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "body is not JSON"
    too_long = {"session": chat.session, "text": "x" * 5000}
    async with http.post(url, json=too_long) as response:
        assert response.status == 400
        assert "at most 4096" in (await response.json())["error"]
    async with http.get(url, params={"session": "nope", "after": "0-0"}) as response:
        assert response.status == 403
    async with http.get(url, params={"session": chat.session, "after": "x"}) as response:
        assert response.status == 400


async def test_a_long_poll_longer_than_the_redis_timeout_just_ends_empty(
    http: aiohttp.ClientSession, chat: ChatClient, live_gateway: LiveGateway
) -> None:
    params = {"session": chat.session, "after": "0-0", "wait": "7"}
    started = asyncio.get_running_loop().time()
    async with http.get(f"{live_gateway.url}/chat/api/messages", params=params) as response:
        assert response.status == 200
        assert (await response.json())["messages"] == []
    assert asyncio.get_running_loop().time() - started >= 6.5
