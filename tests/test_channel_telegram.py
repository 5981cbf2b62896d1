"""The Telegram channel: parsing captured updates, sending through a fake Bot API, and the
whole gateway (`tawasul serve` + `tawasul worker`) answering Telegram users end to end."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from sqlalchemy import select

from bot.crypto import Cipher
from bot.i18n import translator
from bot.media import MediaStore
from bot.models import AddressKind, Button, InboundMessage, Media, OutboundMessage
from bot.profile_loader import load_profile
from bot.settings import load_settings
from bot.tables import ConsentRecord, ContactAddress, Message, SupportRequest
from channels.base import (
    ContactStoppedError,
    InDoubtSendError,
    MediaFetchError,
    PermanentMediaError,
    PermanentSendError,
    RetryableSendError,
    SendError,
    ThrottledError,
    WebhookRequest,
)
from channels.context import ChannelContext
from channels.telegram import (
    TelegramChannel,
    TelegramSettings,
    TelegramSetupError,
    api_bases,
    set_webhook,
)
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY, LiveGateway, launch_gateway
from tests.fakes.server import post_status, running
from tests.fakes.telegram import Failure, FakeBotAPI
from tests.fixtures import telegram as updates
from tests.journeys import database, national_id, stored_attachment

TOKEN = "123:ABC"
SECRET = "tawasul-test_secret-42"
PATH = "/webhooks/telegram"
AR = translator("ar")
EN = translator("en")
PROFILE_DATA = load_profile(PROFILE)
REFERENCE = re.compile(r"R-\d{9}")
MENU_IDS = [
    "menu:inquiries",
    "menu:support",
    "menu:status",
    "menu:complaint",
    "menu:staff",
    "menu:updates",
    "menu:privacy",
    "lang:en",
]
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4 + b"\xff\xd9"

# Update and chat ids unique to this run (Redis keeps seen update ids across modules).
_ids = itertools.count(random.randrange(10**6, 10**9, 10**5))


def new_id() -> int:
    return next(_ids)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotAPI]:
    with running(FakeBotAPI(TOKEN)) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake: FakeBotAPI) -> Iterator[LiveGateway]:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_SECRET_TOKEN": SECRET,
        "TELEGRAM_API_BASE": fake.url + "/bot",
    }
    with launch_gateway(tmp_path_factory.mktemp("tg"), env) as live:
        yield live


def make_channel(tmp: Path, api_base: str | None = None, token: str = TOKEN) -> TelegramChannel:
    settings = TelegramSettings(bot_token=token, secret_token=SECRET, api_base=api_base)
    context = ChannelContext(
        load_settings(),
        Redis.from_url(REDIS_URL),
        REDIS_URL,
        Cipher(SECRET_KEY),
        PROFILE_DATA,
        MediaStore(tmp / "media"),
    )
    return TelegramChannel(context, settings)


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> TelegramChannel:
    """A channel that is never started: parsing needs no Bot API."""
    return make_channel(tmp_path_factory.mktemp("tg-parse"))


@pytest.fixture
async def channel(tmp_path: Path, fake: FakeBotAPI) -> AsyncIterator[TelegramChannel]:
    started = make_channel(tmp_path, fake.url + "/bot")
    await started.start()
    yield started
    await started.close()


def hook(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest("POST", PATH, "http://127.0.0.1" + PATH, headers or {}, {}, raw)


# -- parsing (captured updates, table-driven) ----------------------------------------------------
PARSED: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    (
        "text",
        updates.text(501, 42, "أريد تقديم طلب"),
        {"text": "أريد تقديم طلب", "provider_id": "501", "address": "42", "media": ()},
    ),
    # /start would read as "start", the opt-in word: it becomes a greeting in the app's language.
    ("start", updates.start(502, 42), {"text": "مرحبا", "button_id": None}),
    ("start with deep link", updates.start(503, 42, "campaign-7"), {"text": "مرحبا"}),
    ("start from an English app", updates.start(504, 42, language_code="en"), {"text": "hi"}),
    ("start from another language", updates.start(505, 42, language_code="fr"), {"text": "مرحبا"}),
    (
        "start addressed to the bot",
        updates.text(506, 42, "/start@tawasul_test_bot"),
        {"text": "مرحبا"},
    ),
    (
        "photo with caption: largest size",
        updates.photo(507, 42, caption="صورة الهوية"),
        {
            "text": "صورة الهوية",
            "media": (Media(content_type="image/jpeg", url="tg-file:ph-507-x"),),
        },
    ),
    (
        "document",
        updates.document(508, 42),
        {
            "text": "",
            "media": (
                Media("application/pdf", url="tg-file:doc-508", filename="salary-certificate.pdf"),
            ),
        },
    ),
    (
        "document without a MIME type",
        updates.document(509, 42, file_name="lease.png", mime_type=None),
        {"media": (Media("image/png", url="tg-file:doc-509", filename="lease.png"),)},
    ),
    (
        "button press",
        updates.callback_query(
            510, 42, "menu:support", [("تقديم طلب دعم", "menu:support")], "cbq-1"
        ),
        {
            "text": "تقديم طلب دعم",
            "button_id": "menu:support",
            "provider_id": "cb:cbq-1",
            "address": "42",
        },
    ),
    (
        "button press, title not on the message",
        updates.callback_query(511, 42, "opt:rent", [("Other", "opt:other")], "cbq-2"),
        {"text": "", "button_id": "opt:rent"},
    ),
    (
        "web app data is the message's text",
        updates.web_app_data(515, 42, '{"city":"الرياض","members":5}', "تسجيل الأسرة"),
        {"text": '{"city":"الرياض","members":5}', "provider_id": "515", "media": ()},
    ),
    ("edited message is ignored", updates.edited(512, 42, "corrected"), None),
    ("group message is ignored", updates.group_text(513, 42, "hello all"), None),
    ("unknown update kind is ignored", {"update_id": 514, "poll": {"id": "1"}}, None),
]


@pytest.mark.parametrize(
    ("update", "expected"), [(u, e) for _, u, e in PARSED], ids=[n for n, _, _ in PARSED]
)
def test_parse_captured_updates(
    parser: TelegramChannel, update: dict[str, Any], expected: dict[str, Any] | None
) -> None:
    items = parser.parse(hook(update))
    if expected is None:
        assert items == []
        return
    (message,) = items
    assert isinstance(message, InboundMessage)
    assert (message.channel, message.address_kind) == ("telegram", AddressKind.TELEGRAM)
    assert message.sender_name == "Ahmed Alharbi"
    for name, value in expected.items():
        assert getattr(message, name) == value, name


def _altered(update: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `update` with the field at the dotted `path` set to `value`."""
    altered = json.loads(json.dumps(update))
    *parents, last = path.split(".")
    node = altered
    for key in parents:
        node = node[key]
    node[last] = value
    return altered


MALFORMED: list[tuple[str, bytes | dict[str, Any]]] = [
    ("not JSON", b"<xml/>"),
    ("not UTF-8", b"\xff\xfe{"),
    ("a list", b"[1, 2]"),
    ("no update_id", {"message": updates.text(1, 42, "x")["message"]}),
    ("update_id not a number", _altered(updates.text(1, 42, "x"), "update_id", "1")),
    ("update_id a boolean", _altered(updates.text(1, 42, "x"), "update_id", True)),
    ("message not an object", {"update_id": 1, "message": 5}),
    ("message without chat", {"update_id": 1, "message": {"message_id": 1, "date": 1}}),
    ("chat id not a number", _altered(updates.text(2, 42, "x"), "message.chat.id", "42")),
    ("text not a string", _altered(updates.text(3, 42, "x"), "message.text", 5)),
    ("callback without chat_instance", {"update_id": 4, "callback_query": {"id": "1"}}),
    (
        "photo without file_id",
        _altered(updates.photo(5, 42), "message.photo", [{"width": 1, "height": 1}]),
    ),
]


@pytest.mark.parametrize("body", [b for _, b in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_parse_rejects_malformed(parser: TelegramChannel, body: bytes | dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parser.parse(hook(body))


JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
LEAF: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.just([])
)
UPDATE_SHAPED = st.fixed_dictionaries(
    {"update_id": st.integers() | LEAF},
    optional={
        "message": st.fixed_dictionaries(
            {},
            optional={
                "message_id": LEAF,
                "date": LEAF,
                "chat": st.fixed_dictionaries(
                    {}, optional={"id": LEAF, "type": st.sampled_from(["private", "group"]) | LEAF}
                ),
                "from": st.fixed_dictionaries(
                    {}, optional={"id": LEAF, "is_bot": LEAF, "first_name": LEAF}
                ),
                "text": LEAF,
                "caption": LEAF,
                "photo": st.lists(
                    st.dictionaries(
                        st.sampled_from(["file_id", "file_unique_id", "width", "height"]), LEAF
                    ),
                    max_size=3,
                )
                | LEAF,
                "document": st.dictionaries(
                    st.sampled_from(["file_id", "file_unique_id", "file_name", "mime_type"]), LEAF
                )
                | LEAF,
            },
        ),
        "callback_query": st.dictionaries(
            st.sampled_from(["id", "from", "chat_instance", "data", "message"]), JSON
        ),
        "edited_message": JSON,
    },
)


def _parses_or_rejects(parser: TelegramChannel, body: bytes) -> None:
    try:
        items = parser.parse(hook(body))
    except ValueError:
        return
    for item in items:
        assert isinstance(item, InboundMessage)
        assert isinstance(item.text, str) and isinstance(item.address, str)
        assert isinstance(item.provider_id, str) and item.provider_id
        assert item.button_id is None or isinstance(item.button_id, str)
        assert all(isinstance(m.url, str) and m.url.startswith("tg-file:") for m in item.media)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=JSON | UPDATE_SHAPED)
def test_parse_fuzz_arbitrary_json(parser: TelegramChannel, data: Any) -> None:
    _parses_or_rejects(parser, json.dumps(data).encode())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field's path in a JSON document (keys and list indexes)."""
    if prefix:
        yield prefix
    if isinstance(node, dict):
        children: Any = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return
    for key, child in children:
        yield from _paths(child, (*prefix, key))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_fuzz_captured_updates_with_one_field_replaced(
    parser: TelegramChannel, data: st.DataObject
) -> None:
    update = json.loads(json.dumps(data.draw(st.sampled_from([u for _, u, _ in PARSED]))))
    path = data.draw(st.sampled_from(list(_paths(update))))
    node = update
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(JSON)
    _parses_or_rejects(parser, json.dumps(update).encode())


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200))
def test_parse_fuzz_arbitrary_bytes(parser: TelegramChannel, body: bytes) -> None:
    _parses_or_rejects(parser, body)


# -- verify -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, True),
        ({"x-telegram-bot-api-secret-token": SECRET}, True),  # HTTP/2 proxies lower-case
        ({}, False),
        ({"X-Telegram-Bot-Api-Secret-Token": ""}, False),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}, False),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET.upper()}, False),
        ({"X-Telegram-Bot-Api-Secret-Token": "sécret\udcff"}, False),
    ],
)
async def test_verify_secret_token(
    parser: TelegramChannel, headers: dict[str, str], accepted: bool
) -> None:
    assert await parser.verify(hook(b"{}", headers)) is accepted


def test_api_base_formats() -> None:
    assert api_bases(None) == (
        "https://api.telegram.org/bot",
        "https://api.telegram.org/file/bot",
    )
    for given_base in ("http://127.0.0.1:9/bot", "http://127.0.0.1:9/bot/", "http://127.0.0.1:9"):
        assert api_bases(given_base) == ("http://127.0.0.1:9/bot", "http://127.0.0.1:9/file/bot")


# -- send, fetch_media, received (in process, against the fake) -----------------------------------
async def test_send_buttons_as_inline_keyboard(channel: TelegramChannel, fake: FakeBotAPI) -> None:
    chat = new_id()
    message = OutboundMessage(
        "اختر:", (Button("menu:support", "تقديم طلب دعم"), Button("lang:en", "English"))
    )
    result = await channel.send(AddressKind.TELEGRAM, str(chat), message)
    (call,) = fake.calls("sendMessage", chat_id=chat)
    assert call["text"] == "اختر:"
    assert call["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "تقديم طلب دعم", "callback_data": "menu:support"}],
            [{"text": "English", "callback_data": "lang:en"}],
        ]
    }
    assert re.fullmatch(rf"{chat}:\d+", result.provider_id)


async def test_send_splits_long_text_keyboard_on_last_part(
    channel: TelegramChannel, fake: FakeBotAPI
) -> None:
    chat = new_id()
    paragraph = "سطر طويل من النص " * 20
    text = "\n".join([paragraph] * 20)  # about 7,000 characters
    await channel.send(AddressKind.TELEGRAM, str(chat), OutboundMessage(text, (Button("a", "A"),)))
    calls = fake.calls("sendMessage", chat_id=chat)
    assert len(calls) == 2
    assert all(len(c["text"]) <= 4096 for c in calls)
    assert "reply_markup" not in calls[0] and "reply_markup" in calls[1]
    assert " ".join(c["text"] for c in calls).split() == text.split()


async def test_send_degrades_to_numbers_when_a_button_id_is_too_long(
    channel: TelegramChannel, fake: FakeBotAPI
) -> None:
    chat = new_id()
    long_id = "req:" + "x" * 61  # 65 bytes: over callback_data's 64
    await channel.send(
        AddressKind.TELEGRAM,
        str(chat),
        OutboundMessage(
            "Which request?", (Button("req:R-100001", "R-100001"), Button(long_id, "Z"))
        ),
    )
    (call,) = fake.calls("sendMessage", chat_id=chat)
    assert call["text"] == "Which request?\n\n1. R-100001\n2. Z"
    assert "reply_markup" not in call


SEND_ERRORS: list[tuple[str, Failure, type[SendError], str]] = [
    ("flood control", FakeBotAPI.THROTTLED, ThrottledError, "429"),
    ("blocked by the user", FakeBotAPI.BLOCKED, ContactStoppedError, "403"),
    ("bad request", FakeBotAPI.BAD_REQUEST, PermanentSendError, "400"),
    ("server error", Failure(502, "Bad Gateway"), RetryableSendError, "network"),
    # Telegram may have it (the fake does): sending again could reach the chat twice.
    ("answer lost", FakeBotAPI.ANSWER_LOST, InDoubtSendError, "no-answer"),
]


@pytest.mark.parametrize(
    ("failure", "error", "code"),
    [(f, e, c) for _, f, e, c in SEND_ERRORS],
    ids=[n for n, *_ in SEND_ERRORS],
)
async def test_send_errors_are_typed(
    channel: TelegramChannel,
    fake: FakeBotAPI,
    failure: Failure,
    error: type[SendError],
    code: str,
) -> None:
    chat = new_id()
    fake.fail(chat, failure)
    with pytest.raises(error) as raised:
        await channel.send(AddressKind.TELEGRAM, str(chat), OutboundMessage("hello"))
    assert type(raised.value) is error and raised.value.code == code
    # Only that one call was scripted to fail.
    await channel.send(AddressKind.TELEGRAM, str(chat), OutboundMessage("hello"))


async def test_send_without_the_api_is_retryable_and_start_survives(tmp_path: Path) -> None:
    closed = make_channel(tmp_path, "http://127.0.0.1:9/bot")
    await closed.start()  # logs and carries on: Telegram down must not stop the gateway
    with pytest.raises(RetryableSendError) as raised:
        await closed.send(AddressKind.TELEGRAM, "1", OutboundMessage("hello"))
    assert raised.value.code == "network"
    await closed.close()


async def test_send_with_a_rejected_token_is_permanent(tmp_path: Path, fake: FakeBotAPI) -> None:
    wrong = make_channel(tmp_path, fake.url + "/bot", token="999:WRONG")
    await wrong.start()
    with pytest.raises(PermanentSendError) as raised:
        await wrong.send(AddressKind.TELEGRAM, "1", OutboundMessage("hello"))
    assert raised.value.code == "401"
    assert "999:WRONG" not in str(raised.value)
    await wrong.close()


async def test_send_refuses_other_addresses(channel: TelegramChannel) -> None:
    with pytest.raises(PermanentSendError):
        await channel.send(AddressKind.SMS, "+966501234567", OutboundMessage("x"))
    with pytest.raises(PermanentSendError):
        await channel.send(AddressKind.TELEGRAM, "not-a-chat", OutboundMessage("x"))


async def test_fetch_media_stores_it_and_received_answers_the_press(
    channel: TelegramChannel, fake: FakeBotAPI, tmp_path: Path
) -> None:
    update_id, chat = new_id(), new_id()
    fake.add_file(f"ph-{update_id}-x", f"photos/file_{update_id}.jpg", JPEG)
    (message,) = channel.parse(hook(updates.photo(update_id, chat)))
    assert isinstance(message, InboundMessage)
    media = await channel.fetch_media(message.media[0])
    assert media.url == f"tg-file:ph-{update_id}-x" and media.content_type == "image/jpeg"
    assert media.stored_path is not None
    stored = Path(media.stored_path)
    assert stored.read_bytes() == JPEG and stored.is_relative_to(tmp_path / "media")
    assert fake.calls("getFile", file_id=f"ph-{update_id}-x")

    # A file the API does not know is final; a file server that fails is tried again later.
    (missing,) = channel.parse(hook(updates.document(new_id(), chat)))
    assert isinstance(missing, InboundMessage)
    with pytest.raises(PermanentMediaError):
        await channel.fetch_media(missing.media[0])
    fake.downloads.fail(1, status=502)
    try:
        with pytest.raises(MediaFetchError) as unavailable:
            await channel.fetch_media(message.media[0])
    finally:
        fake.downloads.reset()
    assert not isinstance(unavailable.value, PermanentMediaError)

    (press,) = channel.parse(hook(updates.callback_query(new_id(), chat, "menu:faq")))
    assert isinstance(press, InboundMessage)
    await channel.received(press)
    callback_id = press.provider_id.removeprefix("cb:")
    assert len(fake.calls("answerCallbackQuery", callback_query_id=callback_id)) == 1


async def test_set_webhook_sends_url_secret_and_update_kinds(fake: FakeBotAPI) -> None:
    configured = TelegramSettings(bot_token=TOKEN, secret_token=SECRET, api_base=fake.url + "/bot")
    before = len(fake.calls("setWebhook"))
    confirmation = await set_webhook(configured, "https://tawasul.example.org/")
    call = fake.calls("setWebhook")[before]
    assert call["url"] == "https://tawasul.example.org/webhooks/telegram"
    assert call["secret_token"] == SECRET
    assert call["allowed_updates"] == ["message", "callback_query"]
    assert confirmation == (
        "Telegram webhook set: @tawasul_test_bot posts updates to "
        "https://tawasul.example.org/webhooks/telegram"
    )
    assert "\n" not in confirmation


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"secret_token": None}, "must be set"),
        ({"bot_token": ""}, "must be set"),
        ({"secret_token": "has spaces"}, "A-Z, a-z, 0-9"),
        ({"bot_token": "999:WRONG"}, "Telegram refused"),
    ],
)
async def test_set_webhook_explains_failures(
    fake: FakeBotAPI, overrides: dict[str, Any], reason: str
) -> None:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "secret_token": SECRET,
        "api_base": fake.url + "/bot",
        **overrides,
    }
    with pytest.raises(TelegramSetupError, match=re.escape(reason)) as raised:
        await set_webhook(TelegramSettings(**values), "https://tawasul.example.org")
    assert "999:WRONG" not in str(raised.value)  # the token is never printed


# -- the live gateway -------------------------------------------------------------------------
async def post(
    http: aiohttp.ClientSession,
    gateway: LiveGateway,
    update: dict[str, Any] | bytes,
    secret: str | None = SECRET,
) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    async with http.post(gateway.url + PATH, data=body, headers=headers) as response:
        await response.read()
        return response.status


class TelegramUser:
    """A beneficiary on Telegram: sends updates and waits for what the bot sends back."""

    def __init__(self, http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI) -> None:
        self.http, self.gateway, self.fake = http, gateway, fake
        self.chat = new_id()
        self.seen = 0

    def replies(self, count: int) -> list[dict[str, Any]]:
        calls = self.fake.wait_calls("sendMessage", self.seen + count, chat_id=self.chat)
        new = calls[self.seen : self.seen + count]
        self.seen += count
        return new

    async def send(self, update: dict[str, Any], count: int = 1) -> list[str]:
        assert await post(self.http, self.gateway, update) == 200
        return [str(r["text"]) for r in self.replies(count)]

    async def say(self, text: str, count: int = 1) -> list[str]:
        return await self.send(updates.text(new_id(), self.chat, text), count)

    async def start(self, **kwargs: Any) -> dict[str, Any]:
        assert (
            await post(self.http, self.gateway, updates.start(new_id(), self.chat, **kwargs)) == 200
        )
        (greeting,) = self.replies(1)
        return greeting

    async def press(self, button_id: str, count: int = 1) -> list[str]:
        """Press a button of the last message that had a keyboard, as Telegram reports it."""
        keyboard = next(
            c["reply_markup"]["inline_keyboard"]
            for c in reversed(self.fake.calls("sendMessage", chat_id=self.chat))
            if "reply_markup" in c
        )
        buttons = [(b["text"], b["callback_data"]) for row in keyboard for b in row]
        assert button_id in [b for _, b in buttons], buttons
        update = updates.callback_query(new_id(), self.chat, button_id, buttons)
        return await self.send(update, count)


async def earlier_replies_have_arrived(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI
) -> None:
    """A barrier, not a sleep: the gateway's one worker sends replies in the order they were
    queued, so once a newcomer's greeting queued now has arrived, so has any earlier reply."""
    await TelegramUser(http, gateway, fake).say("مرحبا")


def contact_address(db: Any, cipher: Cipher, chat: int) -> ContactAddress:
    address = db.scalar(
        select(ContactAddress).where(
            ContactAddress.kind == "telegram",
            ContactAddress.address_hash == cipher.lookup_hash(str(chat)),
        )
    )
    assert address is not None
    return address


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


async def test_start_greets_with_the_menu_as_an_inline_keyboard(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI, cipher: Cipher
) -> None:
    user = TelegramUser(http, gateway, fake)
    greeting = await user.start()
    welcome = AR.gettext("Welcome to {name}! How can we help you today?")
    assert greeting["text"].startswith(welcome.format(name=PROFILE_DATA.name.ar))
    keyboard = greeting["reply_markup"]["inline_keyboard"]
    assert [len(row) for row in keyboard] == [1] * 8
    assert [row[0]["callback_data"] for row in keyboard] == MENU_IDS
    assert keyboard[1][0]["text"] == AR.gettext("Apply for support")
    assert keyboard[-1][0]["text"] == "English"

    # /start is a greeting, never the opt-in word "start": no consent is recorded.
    with database(gateway.database_url) as db:
        contact_id = contact_address(db, cipher, user.chat).contact_id
        consents = db.scalars(
            select(ConsentRecord).where(ConsentRecord.contact_id == contact_id)
        ).all()
        assert consents == []

    # An English Telegram app is greeted in English; /start again greets again.
    english = TelegramUser(http, gateway, fake)
    hello = await english.start(language_code="en", payload="from-website")
    assert hello["text"].startswith(
        EN.gettext("Welcome to {name}! How can we help you today?").format(
            name=PROFILE_DATA.name.en
        )
    )
    again = await english.start()
    assert again["text"] == hello["text"]


@pytest.mark.parametrize(
    "secret", [None, "", "wrong-secret", SECRET[:-1], SECRET + "x", SECRET.upper()], ids=repr
)
async def test_wrong_or_missing_secret_is_403(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI, secret: str | None
) -> None:
    chat = new_id()
    assert await post(http, gateway, updates.text(new_id(), chat, "مرحبا"), secret) == 403
    await earlier_replies_have_arrived(http, gateway, fake)
    assert fake.calls("sendMessage", chat_id=chat) == []


async def test_malformed_update_is_400_ignored_kinds_200(
    http: aiohttp.ClientSession, gateway: LiveGateway
) -> None:
    assert await post(http, gateway, b"{not json") == 400
    assert await post(http, gateway, {"update_id": "x"}) == 400
    assert await post(http, gateway, updates.edited(new_id(), new_id(), "x")) == 200


async def test_duplicate_update_gets_one_reply(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI, cipher: Cipher
) -> None:
    # Sequential: Telegram retrying an update it thinks failed.
    chat = new_id()
    update = updates.text(new_id(), chat, "مرحبا")
    assert await post(http, gateway, update) == 200
    assert await post(http, gateway, update) == 200
    # Concurrent: the same update arriving five times at once.
    other = new_id()
    burst = updates.text(new_id(), other, "مرحبا")
    statuses = await asyncio.gather(*(post(http, gateway, burst) for _ in range(5)))
    assert statuses == [200] * 5

    for who in (chat, other):
        fake.wait_calls("sendMessage", 1, chat_id=who)
    await earlier_replies_have_arrived(http, gateway, fake)
    for who, sent in ((chat, update), (other, burst)):
        assert len(fake.calls("sendMessage", chat_id=who)) == 1
        with database(gateway.database_url) as db:
            inbound = db.scalars(
                select(Message).where(
                    Message.channel == "telegram",
                    Message.direction == "in",
                    Message.provider_id == str(sent["update_id"]),
                )
            ).all()
            assert len(inbound) == 1


async def test_button_press_starts_the_form_and_is_answered(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI
) -> None:
    user = TelegramUser(http, gateway, fake)
    await user.start()
    update = updates.callback_query(
        new_id(), user.chat, "menu:support", [(AR.gettext("Apply for support"), "menu:support")]
    )
    callback_id = update["callback_query"]["id"]
    intro, question = await user.send(update, 2)
    assert intro.startswith("لنعبّئ طلب الدعم معًا")
    assert question.startswith("السؤال 1 من 11")
    assert len(fake.wait_calls("answerCallbackQuery", callback_query_id=callback_id)) == 1


async def test_photo_is_stored_with_its_path_in_the_message(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI, cipher: Cipher
) -> None:
    update_id, chat = new_id(), new_id()
    fake.add_file(f"ph-{update_id}-x", f"photos/file_{update_id}.jpg", JPEG)
    assert await post(http, gateway, updates.photo(update_id, chat, caption="الهوية")) == 200
    with database(gateway.database_url) as db:
        message = db.scalar(
            select(Message).where(
                Message.channel == "telegram", Message.provider_id == str(update_id)
            )
        )
        assert message is not None and message.body == "الهوية"  # recorded at once
        kept = {"message_id": message.id, "media_index": 0}
    # Then the worker fetches the file and attaches it to the message.
    await asyncio.to_thread(stored_attachment, gateway.database_url, kept)
    assert fake.calls("getFile", file_id=f"ph-{update_id}-x")
    assert fake.received(lambda r: r.path == f"/file/bot{TOKEN}/photos/file_{update_id}.jpg")
    with database(gateway.database_url) as db:
        message = db.scalar(
            select(Message).where(
                Message.channel == "telegram", Message.provider_id == str(update_id)
            )
        )
        assert message is not None
        (media,) = message.payload["media"]
    assert media["url"] == f"tg-file:ph-{update_id}-x"
    assert media["content_type"] == "image/jpeg"
    stored = Path(media["stored_path"])
    assert stored.is_relative_to(gateway.var_dir / "media")
    assert stored.read_bytes() == JPEG


DELIVERY: list[tuple[str, Failure, int | None, str, str | None, bool]] = [
    # name, scripted failure, times, final status, error code, address stopped
    ("blocked by the user", FakeBotAPI.BLOCKED, None, "failed", "403", True),
    ("bad request", FakeBotAPI.BAD_REQUEST, None, "failed", "400", False),
    ("flood control once, then sent", FakeBotAPI.THROTTLED, 1, "sent", "429", False),
]


@pytest.mark.parametrize(
    ("failure", "times", "status", "code", "stopped"),
    [d[1:] for d in DELIVERY],
    ids=[d[0] for d in DELIVERY],
)
async def test_delivery_failures(
    http: aiohttp.ClientSession,
    gateway: LiveGateway,
    fake: FakeBotAPI,
    cipher: Cipher,
    failure: Failure,
    times: int | None,
    status: str,
    code: str | None,
    stopped: bool,
) -> None:
    chat = new_id()
    fake.fail(chat, failure, times=times)
    assert await post(http, gateway, updates.text(new_id(), chat, "مرحبا")) == 200

    def outbound() -> Message | None:
        with database(gateway.database_url) as db:
            address = contact_address(db, cipher, chat)
            reply = db.scalar(
                select(Message).where(Message.address_id == address.id, Message.direction == "out")
            )
            if reply is None or reply.status != status:
                return None
            db.expunge(reply)
            return reply

    reply = wait_until(outbound, timeout=20.0)  # the worker's first retry waits 5 s
    assert reply is not None, f"no outbound message reached {status}"
    assert reply.error_code == (None if status == "sent" else code)
    assert reply.attempts == (2 if status == "sent" else 1)
    with database(gateway.database_url) as db:
        assert (contact_address(db, cipher, chat).stopped_at is not None) is stopped
    attempts = fake.calls("sendMessage", chat_id=chat)
    assert len(attempts) == (2 if status == "sent" else 1)


async def test_support_request_completed_on_telegram(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeBotAPI, cipher: Cipher
) -> None:
    user = TelegramUser(http, gateway, fake)
    await user.start()
    _intro, question = await user.press("menu:support", 2)
    assert question.startswith("السؤال 1 من 11")
    nid = national_id(424242)
    for answer in [
        "أحمد علي صالح الحربي",
        nid,
        "12/05/1410",
        "15/08/1450",
        "٠٥٠١٢٣٤٥٦٧",
        "الرياض",
        "٥",
        "٣٥٠٠",
    ]:
        (reply,) = await user.say(answer)
    assert reply.startswith("السؤال 9 من 11")
    (reply,) = await user.press("opt:rent")
    assert reply.startswith("السؤال 10 من 11")
    (reply,) = await user.say("نحن أسرة من خمسة أفراد ونحتاج المساعدة في دفع الإيجار الشهري.")
    assert reply.startswith("السؤال 11 من 11")

    # The ID photo, sent as a Telegram photo, is downloaded and kept with the request.
    update_id = new_id()
    fake.add_file(f"ph-{update_id}-x", f"photos/file_{update_id}.jpg", JPEG)
    await user.send(updates.photo(update_id, user.chat, caption="الهوية"))
    (summary,) = await user.say("done")
    assert summary.startswith("يُرجى مراجعة إجاباتك:")
    assert f"• رقم الهوية الوطنية أو الإقامة: {nid}" in summary
    (attestation,) = await user.press("form:submit")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    receipt, _updates_offer = await user.press("form:attest", 2)

    # The receipt as Telegram received it, with the reference number.
    reference = REFERENCE.search(receipt)
    assert reference is not None
    assert receipt.startswith(f"تم استلام طلبك، ورقمه المرجعي {reference.group()}.")
    assert "لجنة البحث" in receipt
    await asyncio.to_thread(fake.wait_calls, "answerCallbackQuery", 4)

    with database(gateway.database_url) as db:
        request = db.scalar(
            select(SupportRequest).where(SupportRequest.reference == reference.group())
        )
        assert request is not None
        assert (request.status, request.channel, request.request_type) == (
            "submitted",
            "telegram",
            "rent",
        )
        assert request.answers["national_id"] == nid
        (document,) = request.answers["documents"]
        assert document["content_type"] == "image/jpeg"
    # The request keeps the file's message and position; the file is found once fetched.
    path = await asyncio.to_thread(stored_attachment, gateway.database_url, document)
    assert path.read_bytes() == JPEG


# -- fuzzed HTTP bodies against the live gateway ---------------------------------------------------
def post_sync(gateway: LiveGateway, body: bytes, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    return post_status(gateway.url + PATH, body, headers)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    body=st.binary(max_size=300)
    | JSON.map(lambda d: json.dumps(d).encode())
    | UPDATE_SHAPED.map(lambda d: json.dumps(d).encode()),
    secret=st.sampled_from([SECRET, None, "x"])
    | st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=20),
)
def test_fuzzed_webhook_bodies_never_500(gateway: LiveGateway, body: bytes, secret: str) -> None:
    status = post_sync(gateway, body, secret)
    assert status < 500, (status, body, secret)
    if secret is None or secret.strip() != SECRET:  # HTTP trims a header's outer spaces
        # 403 from the secret check; 400 from aiohttp's parser for characters HTTP forbids.
        assert status == 403 or (status == 400 and "\x7f" in secret), (status, secret)


def test_the_set_webhook_command(tmp_path: Path, fake: FakeBotAPI) -> None:
    """`tawasul telegram set-webhook` as an administrator runs it, against the fake Bot API."""
    from tests.conftest import tawasul_cli

    before = len(fake.calls("setWebhook"))
    result = tawasul_cli(
        tmp_path,
        "telegram",
        "set-webhook",
        extra_env={
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_SECRET_TOKEN": SECRET,
            "TELEGRAM_API_BASE": fake.url + "/bot",
            "TAWASUL_PUBLIC_URL": "https://tawasul.example.org",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("https://tawasul.example.org/webhooks/telegram")
    assert fake.calls("setWebhook")[before]["secret_token"] == SECRET
    assert TOKEN not in result.stdout + result.stderr
