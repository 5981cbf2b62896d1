"""The channels as the providers send them today (issue 12), over captured-format payloads
(tests/fixtures/meta/*.json, tests/fixtures/twilio/*.json) and a live gateway (serve + worker)
with both WhatsApp Cloud and Twilio on:

1. a WhatsApp user known only by their business-scoped user id (BSUID) is recorded and
   answered at that id, through Meta and through Twilio, and can link a phone with a code;
2. one odd message or status does not lose the others of a webhook;
3. a group message is recorded for staff and never answered;
4. an error code in a status report means what it means in the send call's answer: stopped
   stops the address, throttled sends the message again, once;
5. voice notes are media, Flows replies and Web App data are recorded as text.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from twilio.base.exceptions import TwilioRestException

from bot.crypto import Cipher
from bot.media import MediaStore
from bot.models import (
    AddressKind,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    SendFailure,
    StatusUpdate,
)
from bot.profile_loader import load_profile
from bot.settings import load_settings
from bot.tables import ContactAddress, Message
from channels.base import PermanentSendError, WebhookRequest
from channels.context import ChannelContext
from channels.twilio import TwilioChannel, TwilioSettings
from channels.twilio import errors as twilio_errors
from channels.whatsapp import WhatsAppCloudChannel, WhatsAppSettings
from channels.whatsapp import errors as meta_errors
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY, LiveGateway, launch_gateway
from tests.fakes.server import running
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, new_sid
from tests.fakes.twilio import fixture as twilio_fixture
from tests.fakes.twilio import sign as twilio_sign
from tests.fakes.whatsapp import FakeGraphAPI, message_text, recipient_of
from tests.fixtures import whatsapp as wa
from tests.journeys import database
from tests.waiting import eventually

META_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "meta"
META_PATH, TWILIO_PATH, TWILIO_STATUS = (
    "/webhooks/whatsapp",
    "/webhooks/twilio",
    ("/webhooks/twilio/status"),
)
SMS_FROM = "+12025550143"
WHATSAPP_FROM = "whatsapp:+966501234567"
PROFILE_DATA = load_profile(PROFILE)
T = TypeVar("T")


def meta_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((META_FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


def context(tmp_path: Path) -> ChannelContext:
    settings = load_settings(
        var_dir=tmp_path / "var", redis_url=REDIS_URL, secret_key=SECRET_KEY, profile=PROFILE
    )
    return ChannelContext(
        settings,
        Redis.from_url(REDIS_URL),
        REDIS_URL,
        Cipher(SECRET_KEY),
        PROFILE_DATA,
        MediaStore(tmp_path / "var" / "media"),
    )


def meta_channel(tmp_path: Path, api_base: str = "http://127.0.0.1:9") -> WhatsAppCloudChannel:
    settings = WhatsAppSettings(
        token=wa.TOKEN,
        phone_number_id=wa.PHONE_NUMBER_ID,
        app_secret=wa.APP_SECRET,
        verify_token=wa.VERIFY_TOKEN,
        api_base=api_base,
    )
    return WhatsAppCloudChannel(context(tmp_path), settings)


def twilio_channel(tmp_path: Path, api_base: str | None = None) -> TwilioChannel:
    settings = TwilioSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        sms_from=SMS_FROM,
        whatsapp_from=WHATSAPP_FROM,
        api_base=api_base,
    )
    return TwilioChannel(context(tmp_path), settings)


def meta_hook(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", META_PATH, "http://x" + META_PATH, wa.sign(body), {}, body)


# -- 1, 2, 3, 4, 5: Meta's captured-format payloads, each item as expected --------------------
@pytest.mark.parametrize("name", sorted(p.stem for p in META_FIXTURES.glob("*.json")))
def test_meta_captured_payloads(tmp_path: Path, name: str) -> None:
    captured = meta_fixture(name)
    items = meta_channel(tmp_path).parse(meta_hook(wa.encode(captured["body"])))
    assert len(items) == len(captured["expect"])
    for item, expect in zip(items, captured["expect"], strict=True):
        if expect["kind"] == "status":
            assert isinstance(item, StatusUpdate)
            failure = SendFailure(expect["failure"]) if expect["failure"] else None
            assert (item.provider_id, item.status, item.error_code, item.failure) == (
                expect["provider_id"],
                DeliveryStatus(expect["status"]),
                expect["error_code"],
                failure,
            )
            continue
        assert isinstance(item, InboundMessage)
        assert (item.address_kind, item.address, item.provider_id) == (
            AddressKind(expect["address_kind"]),
            expect["address"],
            expect["provider_id"],
        )
        assert (item.text, item.button_id, item.sender_name) == (
            expect["text"],
            expect["button_id"],
            expect["sender_name"],
        )
        media = [{"url": m.url, "content_type": m.content_type} for m in item.media]
        assert media == expect["media"]


# -- 4: one meaning per code, for the send call's answer and for a status report --------------
META_CODES = {
    130429: SendFailure.THROTTLED,
    131056: SendFailure.THROTTLED,
    80007: SendFailure.THROTTLED,
    131050: SendFailure.STOPPED,
    131047: SendFailure.WINDOW_CLOSED,
    131000: SendFailure.RETRYABLE,
    131026: SendFailure.PERMANENT,
    131062: SendFailure.PERMANENT,
}
TWILIO_CODES = {
    21610: SendFailure.STOPPED,
    63016: SendFailure.WINDOW_CLOSED,
    63018: SendFailure.THROTTLED,
    20429: SendFailure.THROTTLED,
    30001: SendFailure.RETRYABLE,
    30003: SendFailure.PERMANENT,
    21211: SendFailure.PERMANENT,
}


@pytest.mark.parametrize(("code", "meaning"), META_CODES.items(), ids=map(str, META_CODES))
def test_meta_codes_mean_the_same_in_sends_and_statuses(code: int, meaning: SendFailure) -> None:
    sent = meta_errors.send_error(400, {"code": code, "message": "x"})
    assert (sent.failure, sent.code) == (meaning, str(code))
    assert meta_errors.status_failure(str(code)) is meaning


@pytest.mark.parametrize(("code", "meaning"), TWILIO_CODES.items(), ids=map(str, TWILIO_CODES))
def test_twilio_codes_mean_the_same_in_sends_and_callbacks(code: int, meaning: SendFailure) -> None:
    sent = twilio_errors.send_error(TwilioRestException(400, "/Messages.json", code=code))
    assert (sent.failure, sent.code) == (meaning, str(code))
    assert twilio_errors.status_failure(str(code)) is meaning


# -- 1, 3: where a reply to a user id goes, and that a group is never answered -----------------
@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with running(FakeGraphAPI(wa.TOKEN, wa.PHONE_NUMBER_ID)) as fake:
        yield fake


@pytest.fixture(scope="module")
def fake_twilio() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as fake:
        yield fake


async def test_meta_sends_to_a_user_id_in_recipient_and_never_to_a_group(
    tmp_path: Path, graph: FakeGraphAPI
) -> None:
    user_id = new_bsuid()
    channel = meta_channel(tmp_path, graph.url)
    try:
        result = await channel.send(AddressKind.WHATSAPP_USER, user_id, OutboundMessage("أهلًا"))
        with pytest.raises(PermanentSendError) as refused:
            await channel.send(AddressKind.WHATSAPP_GROUP, "120363041234567", OutboundMessage("x"))
    finally:
        await channel.close()
    ((wamid, body),) = graph.accepted_to(user_id)
    assert result.provider_id == wamid
    assert "to" not in body and body["recipient"] == user_id
    assert body["text"]["body"] == "أهلًا"
    assert refused.value.code == "group"
    assert graph.sends("120363041234567") == []


async def test_twilio_sends_to_a_user_id_on_whatsapp(
    tmp_path: Path, fake_twilio: FakeTwilio
) -> None:
    user_id = new_bsuid()
    channel = twilio_channel(tmp_path, fake_twilio.url)
    try:
        await channel.send(AddressKind.WHATSAPP_USER, user_id, OutboundMessage("أهلًا"))
    finally:
        await channel.close()
    (sent,) = fake_twilio.sent_to("whatsapp:" + user_id)
    assert (sent.form["From"], sent.body) == (WHATSAPP_FROM, "أهلًا")


# -- the live gateway: WhatsApp Cloud and Twilio (SMS and WhatsApp) --------------------------
@pytest.fixture(scope="module")
def gateway(
    graph: FakeGraphAPI, fake_twilio: FakeTwilio, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    env = {
        **wa.gateway_env(graph.url),
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_API_BASE": fake_twilio.url,
    }
    with launch_gateway(tmp_path_factory.mktemp("today"), env) as live:
        yield live


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


_numbers = iter(range(1000, 10_000))


def new_phone() -> str:
    """Digits of a Saudi mobile no other test here uses (no "+", as Meta writes them)."""
    return f"96656{next(_numbers):07d}"


def new_bsuid() -> str:
    return "SA." + "".join(secrets.choice("0123456789") for _ in range(20))


def fresh(captured: dict[str, Any], **replacements: str) -> dict[str, Any]:
    """A captured payload with some ids replaced, so that each test writes as someone new."""
    text = json.dumps(captured, ensure_ascii=False)
    for old, new in replacements.items():
        text = text.replace(old, new)
    result: dict[str, Any] = json.loads(text)
    return result


async def post_meta(client: aiohttp.ClientSession, gateway: LiveGateway, payload: Any) -> int:
    body = wa.encode(payload)
    async with client.post(gateway.url + META_PATH, data=body, headers=wa.sign(body)) as answer:
        return answer.status


async def post_twilio(
    client: aiohttp.ClientSession, gateway: LiveGateway, path: str, form: dict[str, str]
) -> int:
    url = gateway.url + path
    headers = {"X-Twilio-Signature": twilio_sign(url, form)}
    async with client.post(url, data=form, headers=headers) as answer:
        return answer.status


def accepted(graph: FakeGraphAPI, to: str, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Block until `count` messages to `to` (digits or user id) were accepted; all of them."""
    return eventually(lambda: (found := graph.accepted_to(to)) and len(found) >= count and found)


async def meta_barrier(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI
) -> None:
    """Not a sleep: the gateway's one worker sends in the order replies were queued, so once a
    newcomer's greeting queued now has arrived, so has anything queued before it."""
    phone = new_phone()
    assert await post_meta(client, gateway, wa.text(phone, "مرحبا")) == 200
    await asyncio.to_thread(accepted, graph, phone, 1)


def stored_out(gateway: LiveGateway, conversation_of: str) -> Message | None:
    """The reply to the inbound message `conversation_of` (a provider id)."""
    with database(gateway.database_url) as db:
        inbound = db.scalar(select(Message).where(Message.provider_id == conversation_of))
        if inbound is None:
            return None
        return db.scalar(
            select(Message).where(
                Message.conversation_id == inbound.conversation_id, Message.direction == "out"
            )
        )


def address_row(gateway: LiveGateway, cipher: Cipher, kind: str, address: str) -> ContactAddress:
    with database(gateway.database_url) as db:
        found = db.scalar(
            select(ContactAddress).where(
                ContactAddress.kind == kind,
                ContactAddress.address_hash == cipher.lookup_hash(address),
            )
        )
    assert found is not None, (kind, address)
    return found


# -- 1: username-only WhatsApp users ----------------------------------------------------------
async def test_a_username_only_user_on_meta_is_recorded_and_answered_at_their_id(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI, cipher: Cipher
) -> None:
    user_id = new_bsuid()
    payload = fresh(meta_fixture("bsuid_only")["body"], **{"SA.13491208655302741918": user_id})
    assert await post_meta(client, gateway, payload) == 200
    ((_wamid, reply),) = await asyncio.to_thread(accepted, graph, user_id, 1)
    assert recipient_of(reply) == user_id and "to" not in reply
    # «السلام عليكم» is answered with the greeting of peace first, then the welcome.
    assert message_text(reply).startswith("وعليكم السلام")
    assert "أهلًا بك في" in message_text(reply)
    row = address_row(gateway, cipher, "whatsapp_user", user_id)
    assert row.address == user_id


async def test_a_username_only_user_on_twilio_is_recorded_and_answered_at_their_id(
    client: aiohttp.ClientSession, gateway: LiveGateway, fake_twilio: FakeTwilio, cipher: Cipher
) -> None:
    user_id = new_bsuid()
    sid = new_sid("SM")
    form = dict(twilio_fixture("whatsapp_bsuid")["form"])
    form.update(
        From="whatsapp:" + user_id, ExternalUserId="whatsapp:" + user_id, MessageSid=sid, SmsSid=sid
    )
    assert await post_twilio(client, gateway, TWILIO_PATH, form) == 200
    (reply,) = await asyncio.to_thread(fake_twilio.wait_sent, "whatsapp:" + user_id, 1, 30.0)
    assert reply.form["From"] == WHATSAPP_FROM and reply.body.startswith("وعليكم السلام")
    assert "أهلًا بك في" in reply.body
    assert address_row(gateway, cipher, "whatsapp_user", user_id).address == user_id


async def test_a_username_only_user_links_a_phone_with_a_code(
    client: aiohttp.ClientSession,
    gateway: LiveGateway,
    graph: FakeGraphAPI,
    fake_twilio: FakeTwilio,
    cipher: Cipher,
) -> None:
    """Not merged by a phone number Meta never gave: the user proves one with the one-time
    code, sent by SMS, and both addresses are then one contact."""
    user_id = new_bsuid()
    said = 0

    async def say(text: str) -> str:
        nonlocal said
        payload = wa.inbound(user_id, {"type": "text", "text": {"body": text}})
        message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        message["from_user_id"] = message.pop("from")  # no phone number, only the user id
        payload["entry"][0]["changes"][0]["value"]["contacts"] = [
            {"profile": {"name": "Kareem", "username": "kareem.s"}, "user_id": user_id}
        ]
        assert await post_meta(client, gateway, payload) == 200
        said += 1
        found = await asyncio.to_thread(accepted, graph, user_id, said)
        return message_text(found[said - 1][1])

    await say("hello")
    assert (await say("link phone")).startswith("To see your requests from WhatsApp or SMS")
    phone = "+9665" + f"{next(_numbers):08d}"
    assert (await say("0" + phone[4:])).startswith(f"I have sent a code to {phone}")
    (sms,) = await asyncio.to_thread(fake_twilio.wait_sent, phone, 1, 30.0)
    code = re.search(r"\b(\d{6})\b", sms.body)
    assert code is not None
    assert (await say(code.group(1))).startswith(f"Done: {phone} is linked.")
    user_row = address_row(gateway, cipher, "whatsapp_user", user_id)
    phone_row = eventually(lambda: address_row(gateway, cipher, "sms", phone))
    assert phone_row.contact_id == user_row.contact_id


# -- 2: one odd item does not lose the others ---------------------------------------------------
async def test_one_odd_message_does_not_lose_the_others_of_the_webhook(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI
) -> None:
    first, second = new_phone(), new_phone()
    payload = fresh(
        meta_fixture("batch_with_odd_items")["body"],
        **{"966501110078": first, "966501110079": second, "wamid.BATCH": f"wamid.B{first}"},
    )
    assert await post_meta(client, gateway, payload) == 200
    # «أريد تقديم طلب» is a wish said in words: a welcome, then the form's first steps.
    (_, to_first), *_ = await asyncio.to_thread(accepted, graph, first, 1)
    (_, to_second), *_ = await asyncio.to_thread(accepted, graph, second, 1)
    assert message_text(to_first).startswith("أهلًا بك في")  # the newcomer's welcome
    assert recipient_of(to_second) == second
    with database(gateway.database_url) as db:
        kept = db.scalars(
            select(Message.provider_id).where(Message.provider_id.like(f"wamid.B{first}%"))
        ).all()
    assert sorted(kept) == [f"wamid.B{first}0001", f"wamid.B{first}0003"]


# -- 3: groups ----------------------------------------------------------------------------------
async def test_a_group_message_is_recorded_for_staff_and_never_answered(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI, cipher: Cipher
) -> None:
    author, group = new_phone(), "1203630" + new_phone()
    payload = fresh(
        meta_fixture("group_message")["body"],
        **{"966501110080": author, "120363041234567890": group, "wamid.GROUP": f"wamid.G{author}"},
    )
    assert await post_meta(client, gateway, payload) == 200
    # The same author then writes privately: once that is answered, a reply to the group
    # message would have been sent before it.
    assert await post_meta(client, gateway, wa.text(author, "مرحبا")) == 200
    await asyncio.to_thread(accepted, graph, author, 1)
    await meta_barrier(client, gateway, graph)
    assert len(graph.sends(author)) == 1  # the private greeting only
    assert graph.sends(group) == []
    row = address_row(gateway, cipher, "whatsapp_group", group)
    with database(gateway.database_url) as db:
        recorded = db.scalar(select(Message).where(Message.provider_id == f"wamid.G{author}0001"))
        assert recorded is not None
        assert recorded.address_id == row.id
        assert recorded.body == f"عبدالله (+{author}): متى يبدأ التسجيل؟"
        assert recorded.status == "handled"
        replies = db.scalars(
            select(Message).where(
                Message.conversation_id == recorded.conversation_id, Message.direction == "out"
            )
        ).all()
    assert replies == []


# -- 4: error codes in status reports -------------------------------------------------------
def failed_status(wamid: str, phone: str, code: int) -> dict[str, Any]:
    return wa.status(wamid, "failed", phone, code)


async def test_a_throttled_meta_status_sends_the_message_again_once(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI
) -> None:
    phone = new_phone()
    assert await post_meta(client, gateway, wa.text(phone, "مرحبا")) == 200
    ((first, _),) = await asyncio.to_thread(accepted, graph, phone, 1)
    eventually(lambda: (m := stored_by_provider(gateway, first)) and m.status == "sent")
    for _ in range(2):  # Meta may repeat a report
        assert await post_meta(client, gateway, failed_status(first, phone, 130429)) == 200
    (_, before), (second, again) = await asyncio.to_thread(accepted, graph, phone, 2)
    assert again == before  # the same message, sent again
    resent = eventually(
        lambda: (m := stored_by_provider(gateway, second)) and m.status == "sent" and m
    )
    assert resent.attempts == 2
    await meta_barrier(client, gateway, graph)
    assert len(graph.accepted_to(phone)) == 2  # not doubled by the repeated report


def stored_by_provider(gateway: LiveGateway, provider_id: str) -> Message | None:
    with database(gateway.database_url) as db:
        return db.scalar(select(Message).where(Message.provider_id == provider_id))


async def test_a_stopped_meta_status_stops_the_address(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI, cipher: Cipher
) -> None:
    phone = new_phone()
    assert await post_meta(client, gateway, wa.text(phone, "مرحبا")) == 200
    ((wamid, _),) = await asyncio.to_thread(accepted, graph, phone, 1)
    eventually(lambda: (m := stored_by_provider(gateway, wamid)) and m.status == "sent")
    assert await post_meta(client, gateway, failed_status(wamid, phone, 131050)) == 200
    row = eventually(
        lambda: (r := address_row(gateway, cipher, "whatsapp", "+" + phone)).stopped_at and r
    )
    assert row.stopped_at is not None
    message = stored_by_provider(gateway, wamid)
    assert message is not None and (message.status, message.error_code) == ("failed", "131050")


async def test_twilio_callbacks_stop_on_21610_and_send_again_on_63018(
    client: aiohttp.ClientSession, gateway: LiveGateway, fake_twilio: FakeTwilio, cipher: Cipher
) -> None:
    stopped, throttled = "+9665" + f"{next(_numbers):08d}", "+9665" + f"{next(_numbers):08d}"
    sids = {}
    for phone in (stopped, throttled):
        sid = new_sid("SM")
        form = dict(twilio_fixture("sms_text")["form"])
        form.update(From=phone, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
        assert await post_twilio(client, gateway, TWILIO_PATH, form) == 200
        (reply,) = await asyncio.to_thread(fake_twilio.wait_sent, phone, 1, 30.0)
        eventually(lambda r=reply: (m := stored_by_provider(gateway, r.sid)) and m.status == "sent")
        sids[phone] = reply.sid
    for phone, fixture_name in (
        (stopped, "status_failed_opted_out"),
        (throttled, "status_failed_rate_limited"),
        (throttled, "status_failed_rate_limited"),  # Twilio may repeat a callback
    ):
        form = dict(twilio_fixture(fixture_name)["form"])
        form.update(MessageSid=sids[phone], SmsSid=sids[phone], To=phone)
        assert await post_twilio(client, gateway, TWILIO_STATUS, form) == 204
    row = eventually(lambda: (r := address_row(gateway, cipher, "sms", stopped)).stopped_at and r)
    assert row.stopped_at is not None
    first, again = await asyncio.to_thread(fake_twilio.wait_sent, throttled, 2, 30.0)
    assert again.body == first.body
    eventually(lambda: (m := stored_by_provider(gateway, again.sid)) and m.status == "sent")
    await meta_barrier_twilio(client, gateway, fake_twilio)
    assert len(fake_twilio.sent_to(throttled)) == 2
    assert len(fake_twilio.sent_to(stopped)) == 1


async def meta_barrier_twilio(
    client: aiohttp.ClientSession, gateway: LiveGateway, fake_twilio: FakeTwilio
) -> None:
    """The same barrier as `meta_barrier`, through Twilio."""
    phone = "+9665" + f"{next(_numbers):08d}"
    sid = new_sid("SM")
    form = dict(twilio_fixture("sms_text")["form"])
    form.update(From=phone, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    assert await post_twilio(client, gateway, TWILIO_PATH, form) == 200
    await asyncio.to_thread(fake_twilio.wait_sent, phone, 1, 30.0)


# -- 5: a voice note is fetched like any media ---------------------------------------------------
async def test_a_voice_note_is_fetched_and_stored(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI
) -> None:
    phone, media_id = new_phone(), f"80{next(_numbers):014d}"
    graph.add_media(media_id, b"OggS\x00voice", "audio/ogg")
    payload = fresh(
        meta_fixture("voice")["body"],
        **{"966501110081": phone, "7013859600285441": media_id, "wamid.VOICE": f"wamid.V{phone}"},
    )
    assert await post_meta(client, gateway, payload) == 200
    await asyncio.to_thread(
        graph.wait_for, lambda r: r.path == f"/media-download/{media_id}", 1, 30.0
    )

    def fetched() -> dict[str, Any] | None:
        message = stored_by_provider(gateway, f"wamid.V{phone}0001")
        media = message.payload["media"] if message is not None else []
        return media[0] if media and media[0].get("stored_path") else None

    media = eventually(fetched)
    assert media["url"] == f"media:{media_id}"
    assert Path(media["stored_path"]).read_bytes() == b"OggS\x00voice"
