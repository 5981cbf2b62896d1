"""WhatsApp through Meta's Cloud API: parsing captured-format payloads, rendering, error
mapping against a fake Graph API, and a live gateway (serve + worker) driven by signed
webhooks: the handshake, signatures, duplicates, buttons and lists, statuses, media, the
24-hour window, and a whole support request."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from sqlalchemy import func, select

from bot.crypto import Cipher
from bot.media import MediaStore
from bot.models import (
    AddressKind,
    Button,
    DeliveryStatus,
    InboundMessage,
    Media,
    OutboundMessage,
    StatusUpdate,
    Template,
)
from bot.profile import Profile, WhatsAppTemplate
from bot.profile_loader import load_profile
from bot.settings import load_settings
from bot.tables import Message, SupportRequest
from channels.base import (
    ContactStoppedError,
    MediaFetchError,
    PermanentMediaError,
    PermanentSendError,
    RetryableSendError,
    ThrottledError,
    WebhookRequest,
)
from channels.context import ChannelContext
from channels.whatsapp import LIST_BUTTON_LABEL, WhatsAppCloudChannel, WhatsAppSettings, render
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY, LiveGateway, launch_gateway
from tests.fakes.server import post_status, running
from tests.fakes.whatsapp import FakeGraphAPI, choices, message_text
from tests.fixtures import whatsapp as wa
from tests.journeys import MENU_AR, database, national_id, stored_attachment

PROFILE_DATA = load_profile(PROFILE)
ARABIC_NAME = PROFILE_DATA.name.ar
REFERENCE = re.compile(r"R-\d{9}")
PATH = "/webhooks/whatsapp"


# -- a channel built directly, for parse / render / send tests ---------------------------------
def make_channel(
    tmp_path: Path, api_base: str = "http://127.0.0.1:9", profile: Profile | None = None
) -> WhatsAppCloudChannel:
    settings_ = load_settings(
        var_dir=tmp_path / "var",
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        profile=PROFILE,
    )
    whatsapp = WhatsAppSettings(
        token=wa.TOKEN,
        phone_number_id=wa.PHONE_NUMBER_ID,
        app_secret=wa.APP_SECRET,
        verify_token=wa.VERIFY_TOKEN,
        api_base=api_base,
    )
    context = ChannelContext(
        settings_,
        Redis.from_url(REDIS_URL),
        REDIS_URL,
        Cipher(SECRET_KEY),
        profile or PROFILE_DATA,
        MediaStore(tmp_path / "var" / "media"),
    )
    return WhatsAppCloudChannel(context, whatsapp)


def hook(payload: Any, headers: dict[str, str] | None = None) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else wa.encode(payload)
    return WebhookRequest(
        method="POST",
        path=PATH,
        url="http://127.0.0.1:8080" + PATH,
        headers=headers if headers is not None else wa.sign(body),
        query={},
        body=body,
    )


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> WhatsAppCloudChannel:
    return make_channel(tmp_path_factory.mktemp("wa-unit"))


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with running(FakeGraphAPI(wa.TOKEN, wa.PHONE_NUMBER_ID)) as fake:
        yield fake


# -- parse: captured-format payloads -----------------------------------------------------------
PHONE = "966501112233"


@dataclass(frozen=True)
class Case:
    payload: dict[str, Any]
    text: str = ""
    button_id: str | None = None
    media: tuple[Media, ...] = ()


PARSE_CASES = {
    "text": Case(wa.text(PHONE, "  مرحبا  ", name="أحمد"), text="مرحبا"),
    "button_reply": Case(
        wa.button_reply(PHONE, "form:submit", "تأكيد وإرسال"),
        text="تأكيد وإرسال",
        button_id="form:submit",
    ),
    "list_reply": Case(
        wa.list_reply(PHONE, "menu:support", "تقديم طلب دعم"),
        text="تقديم طلب دعم",
        button_id="menu:support",
    ),
    "image_with_caption": Case(
        wa.image(PHONE, "1013859600285441", caption="صورة الهوية"),
        text="صورة الهوية",
        media=(Media("image/jpeg", url="media:1013859600285441"),),
    ),
    "document": Case(
        wa.document(PHONE, "2013859600285441", "lease.pdf"),
        media=(Media("application/pdf", url="media:2013859600285441", filename="lease.pdf"),),
    ),
    "template_quick_reply": Case(
        wa.inbound(PHONE, {"type": "button", "button": {"payload": "yes", "text": "Yes"}}),
        text="Yes",
        button_id="yes",
    ),
    "location": Case(
        wa.inbound(
            PHONE,
            {"type": "location", "location": {"latitude": 24.7, "longitude": 46.6}},
        ),
        text="[location] https://maps.google.com/?q=24.7,46.6",
    ),
    "unsupported": Case(
        wa.inbound(PHONE, {"type": "unsupported", "errors": [{"code": 131051}]}),
        text="[unsupported]",
    ),
}


@pytest.mark.parametrize("case", PARSE_CASES.values(), ids=PARSE_CASES.keys())
def test_parse_messages(channel: WhatsAppCloudChannel, case: Case) -> None:
    (message,) = channel.parse(hook(case.payload))
    assert isinstance(message, InboundMessage)
    sent = case.payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (message.channel, message.address_kind, message.address) == (
        "whatsapp",
        AddressKind.WHATSAPP,
        "+" + PHONE,
    )
    assert message.provider_id == sent["id"]
    assert (message.text, message.button_id, message.media) == (
        case.text,
        case.button_id,
        case.media,
    )
    expected_name = case.payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]
    assert message.sender_name == expected_name["name"]


STATUS_CASES = {
    "sent": (wa.status("wamid.A", "sent", PHONE), DeliveryStatus.SENT, None),
    "delivered": (wa.status("wamid.A", "delivered", PHONE), DeliveryStatus.DELIVERED, None),
    "read": (wa.status("wamid.A", "read", PHONE), DeliveryStatus.READ, None),
    "failed": (wa.status("wamid.A", "failed", PHONE, 131026), DeliveryStatus.FAILED, "131026"),
    "window closed": (
        wa.status("wamid.A", "failed", PHONE, 131047),
        DeliveryStatus.FAILED,
        "131047",
    ),
}


@pytest.mark.parametrize(
    ("payload", "status", "code"), STATUS_CASES.values(), ids=STATUS_CASES.keys()
)
def test_parse_statuses(
    channel: WhatsAppCloudChannel,
    payload: dict[str, Any],
    status: DeliveryStatus,
    code: str | None,
) -> None:
    (report,) = channel.parse(hook(payload))
    assert isinstance(report, StatusUpdate)
    assert (report.channel, report.provider_id, report.status, report.error_code) == (
        "whatsapp",
        "wamid.A",
        status,
        code,
    )
    # Only a refusal for the closed 24-hour window makes the router send the template.
    assert report.window_closed is (code == "131047")


def test_parse_ignores_other_numbers_reactions_and_other_fields(
    channel: WhatsAppCloudChannel,
) -> None:
    assert channel.parse(hook(wa.text(PHONE, "hi", phone_number_id="999"))) == []
    assert channel.parse(hook(wa.status("wamid.B", "read", PHONE, phone_number_id="999"))) == []
    reaction = wa.inbound(PHONE, {"type": "reaction", "reaction": {"message_id": "x"}})
    assert channel.parse(hook(reaction)) == []
    other_field = wa.text(PHONE, "hi")
    other_field["entry"][0]["changes"][0]["field"] = "account_update"
    assert channel.parse(hook(other_field)) == []
    assert channel.parse(hook({"object": "whatsapp_business_account", "entry": []})) == []


MALFORMED = {
    "not_json": b"{not json",
    "not_object": b"[1, 2]",
    "entry_not_list": b'{"entry": {"changes": []}}',
    "change_not_object": b'{"entry": [{"changes": ["x"]}]}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "not_utf8": b"\xff\xfe\x00{",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_parse_rejects_malformed(channel: WhatsAppCloudChannel, body: bytes) -> None:
    """Not Meta's envelope at all: the whole webhook is refused (400)."""
    with pytest.raises(ValueError):
        channel.parse(hook(body))


ODD_MESSAGES = {
    "no_from": wa.encode(wa.text(PHONE, "hi")).replace(b'"from"', b'"frm"'),
    "from_not_digits": wa.encode(wa.text("abc", "hi")),
    "no_id": wa.encode(wa.text(PHONE, "hi")).replace(b'"id": "wamid', b'"ix": "wamid'),
    "text_without_body": wa.encode(wa.inbound(PHONE, {"type": "text", "text": {}})),
    "bad_media_id": wa.encode(wa.image(PHONE, "../../me")),
}


@pytest.mark.parametrize("body", ODD_MESSAGES.values(), ids=ODD_MESSAGES.keys())
def test_an_odd_message_is_skipped_with_a_log_line(
    channel: WhatsAppCloudChannel, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """One message Meta sent in a shape we cannot take is skipped on its own (the webhook is
    still answered 200, so Meta does not retry it forever), and the log says why."""
    with caplog.at_level("WARNING", logger="channels.whatsapp.inbound"):
        assert channel.parse(hook(body)) == []
    assert "messages[0] skipped" in caplog.text


# -- verify ------------------------------------------------------------------------------------
BODY = wa.encode(wa.text(PHONE, "hi"))
SIGNATURES = {
    "right": (wa.sign(BODY), True),
    "lowercase_header": (
        {"x-hub-signature-256": wa.sign(BODY)["X-Hub-Signature-256"]},
        True,
    ),
    "wrong_secret": (wa.sign(BODY, "another-secret"), False),
    "missing": ({"Content-Type": "application/json"}, False),
    "sha1": ({"X-Hub-Signature-256": "sha1=" + "0" * 40}, False),
    "empty": ({"X-Hub-Signature-256": ""}, False),
    "not_ascii": ({"X-Hub-Signature-256": "sha256=مرحبا"}, False),
    "other_body": (wa.sign(BODY + b" "), False),
}


@pytest.mark.parametrize(("headers", "valid"), SIGNATURES.values(), ids=SIGNATURES.keys())
async def test_verify(channel: WhatsAppCloudChannel, headers: dict[str, str], valid: bool) -> None:
    assert await channel.verify(hook(BODY, headers)) is valid


# -- render ------------------------------------------------------------------------------------
def buttons(*titles: str) -> tuple[Button, ...]:
    return tuple(Button(f"b:{n}", title) for n, title in enumerate(titles, 1))


def test_render_text_is_split_under_4096() -> None:
    long = ("كلمة " * 1500).strip()
    parts = render(OutboundMessage(long))
    assert [p["type"] for p in parts] == ["text", "text"]
    assert all(len(p["text"]["body"]) <= 4096 for p in parts)
    assert " ".join(p["text"]["body"] for p in parts) == long


RENDER_CASES = {
    "three_short_buttons": (buttons("نعم", "لا", "رجوع"), "button"),
    "three_buttons_one_long": (buttons("نعم", "لا", "x" * 21), "list"),
    "four_buttons": (buttons("1", "2", "3", "4"), "list"),
    "ten_buttons": (buttons(*[str(n) for n in range(10)]), "list"),
    "duplicate_titles": (buttons("نعم", "نعم"), "list"),
    "eleven_buttons": (buttons(*[str(n) for n in range(11)]), "text"),
}


@pytest.mark.parametrize(("choices_", "kind"), RENDER_CASES.values(), ids=RENDER_CASES.keys())
def test_render_buttons(choices_: tuple[Button, ...], kind: str) -> None:
    (payload,) = render(OutboundMessage("اختر:", choices_))
    if kind == "text":
        assert payload["type"] == "text"
        assert payload["text"]["body"].endswith("\n".join(f"{n}. {n - 1}" for n in (10, 11)))
        return
    interactive = payload["interactive"]
    assert interactive["type"] == kind
    assert interactive["body"]["text"] == "اختر:"
    assert [i for i, _ in choices(payload)] == [b.id for b in choices_]
    if kind == "list":
        assert interactive["action"]["button"] == LIST_BUTTON_LABEL
        assert all(len(title) <= 24 for _, title in choices(payload))


def test_render_list_truncates_long_rows_and_keeps_them_as_description() -> None:
    title = "المساعدة في سداد الإيجار الشهري للأسرة"
    (payload,) = render(OutboundMessage("?", buttons(title, "قصير", "ثالث", "رابع")))
    row = payload["interactive"]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) == 24 and row["title"].endswith("…")
    assert row["description"] == title


def test_render_long_text_with_buttons_keeps_the_body_under_1024() -> None:
    text = "\n".join(f"سطر رقم {n} من ملخص الطلب" for n in range(120))
    parts = render(OutboundMessage(text, buttons("نعم", "لا")))
    assert [p["type"] for p in parts][-1] == "interactive"
    assert len(parts[-1]["interactive"]["body"]["text"]) <= 1024
    sent = " ".join(message_text(p) for p in parts)
    assert sent.split() == text.split()


# -- send: error mapping against the fake Graph API ---------------------------------------------
SEND_ERRORS = {
    "server_error": (500, 1, RetryableSendError),
    "unknown_transient": (500, 131000, RetryableSendError),
    "throughput": (400, 130429, ThrottledError),
    "pair_rate": (400, 131056, ThrottledError),
    "waba_rate": (400, 80007, ThrottledError),
    "http_429": (429, 4, ThrottledError),
    "undeliverable": (400, 131026, PermanentSendError),
    "unsupported_type": (400, 131051, PermanentSendError),
    "bad_parameter": (400, 100, PermanentSendError),
    "stopped_marketing": (400, 131050, ContactStoppedError),
    "token_expired": (401, 190, RetryableSendError),
}


@pytest.mark.parametrize(("status", "code", "error"), SEND_ERRORS.values(), ids=SEND_ERRORS.keys())
async def test_send_errors_are_typed(
    tmp_path: Path, graph: FakeGraphAPI, status: int, code: int, error: type[Exception]
) -> None:
    to = f"9665{code % 100000000:08d}"
    graph.errors[to] = (status, code)
    channel = make_channel(tmp_path, graph.url)
    await channel.start()
    try:
        with pytest.raises(error) as raised:
            await channel.send(AddressKind.WHATSAPP, "+" + to, OutboundMessage("hi"))
    finally:
        await channel.close()
        graph.errors.pop(to)
    assert type(raised.value) is error
    assert raised.value.code == str(code)  # type: ignore[attr-defined]


async def test_send_unreachable_api_is_retryable(tmp_path: Path) -> None:
    channel = make_channel(tmp_path, "http://127.0.0.1:9")
    try:
        with pytest.raises(RetryableSendError) as raised:
            await channel.send(AddressKind.WHATSAPP, "+966500000001", OutboundMessage("hi"))
    finally:
        await channel.close()
    assert raised.value.code == "network"


async def test_send_text_and_template(tmp_path: Path, graph: FakeGraphAPI) -> None:
    channel = make_channel(tmp_path, graph.url)
    to = "966500000002"
    try:
        result = await channel.send(AddressKind.WHATSAPP, "+" + to, OutboundMessage("مرحبا"))
        template = OutboundMessage(
            "", template=Template("survey_invitation", {"1": "R-100001", "2": "أحمد"})
        )
        second = await channel.send(AddressKind.WHATSAPP, "+" + to, template)
        with pytest.raises(PermanentSendError):
            await channel.send(
                AddressKind.WHATSAPP, "+" + to, OutboundMessage("", template=Template("nope"))
            )
        with pytest.raises(PermanentSendError):
            await channel.send(AddressKind.SMS, "+" + to, OutboundMessage("hi"))
    finally:
        await channel.close()
    (first_id, text), (second_id, sent_template) = graph.accepted_to(to)
    assert (result.provider_id, second.provider_id) == (first_id, second_id)
    assert text == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": "مرحبا"},
    }
    assert sent_template["template"] == {
        "name": "survey_invitation",
        "language": {"code": "ar"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "R-100001"},
                    {"type": "text", "text": "أحمد"},
                ],
            }
        ],
    }
    (request,) = [r for r in graph.sends(to) if r.json["type"] == "text"]
    assert request.path == f"/{wa.PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {wa.TOKEN}"


WINDOW_CASES = {
    "reply_waiting": (
        {
            "survey_invitation": WhatsAppTemplate(meta_name="survey_invitation", language="ar"),
            "reply_waiting": WhatsAppTemplate(meta_name="reply_waiting_v2", language="en"),
        },
        "reply_waiting_v2",
        "en",
        PROFILE_DATA.name.en,
    ),
    "first_with_meta_name": (
        {
            "twilio_only": WhatsAppTemplate(twilio_content_sid="HX" + "0" * 32, language="ar"),
            "survey_invitation": WhatsAppTemplate(meta_name="survey_invitation", language="ar"),
        },
        "survey_invitation",
        "ar",
        ARABIC_NAME,
    ),
}


@pytest.mark.parametrize(
    ("templates", "meta_name", "language", "parameter"),
    WINDOW_CASES.values(),
    ids=WINDOW_CASES.keys(),
)
async def test_window_closed_sends_the_waiting_template(
    tmp_path: Path,
    graph: FakeGraphAPI,
    templates: dict[str, WhatsAppTemplate],
    meta_name: str,
    language: str,
    parameter: str,
) -> None:
    to = f"96650000{len(meta_name):04d}"
    graph.window_closed.add(to)
    profile = PROFILE_DATA.model_copy(update={"templates": templates})
    channel = make_channel(tmp_path, graph.url, profile)
    try:
        result = await channel.send(
            AddressKind.WHATSAPP, "+" + to, OutboundMessage("?", buttons("نعم", "لا"))
        )
    finally:
        await channel.close()
    ((wamid, body),) = graph.accepted_to(to)
    assert result.provider_id == wamid
    assert body["template"] == {
        "name": meta_name,
        "language": {"code": language},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": parameter}]}],
    }


async def test_a_queued_reply_waiting_falls_back_like_a_refusal(
    tmp_path: Path, graph: FakeGraphAPI
) -> None:
    """The router queues `reply_waiting` after a late 131047; a profile without it sends the
    first template with a Meta name, as a refusal met while sending does."""
    templates = {
        "twilio_only": WhatsAppTemplate(twilio_content_sid="HX" + "0" * 32, language="ar"),
        "survey_invitation": WhatsAppTemplate(meta_name="survey_invitation", language="ar"),
    }
    profile = PROFILE_DATA.model_copy(update={"templates": templates})
    channel = make_channel(tmp_path, graph.url, profile)
    to = "966500000098"
    queued = OutboundMessage("", template=Template("reply_waiting", {"1": ARABIC_NAME}))
    try:
        await channel.send(AddressKind.WHATSAPP, "+" + to, queued)
    finally:
        await channel.close()
    ((_wamid, body),) = graph.accepted_to(to)
    assert body["template"]["name"] == "survey_invitation"


async def test_window_closed_without_templates_fails_permanently(
    tmp_path: Path, graph: FakeGraphAPI
) -> None:
    to = "966500000099"
    graph.window_closed.add(to)
    channel = make_channel(tmp_path, graph.url, PROFILE_DATA.model_copy(update={"templates": {}}))
    try:
        with pytest.raises(PermanentSendError) as raised:
            await channel.send(AddressKind.WHATSAPP, "+" + to, OutboundMessage("hi"))
    finally:
        await channel.close()
    assert raised.value.code == "131047"


async def test_fetch_media_downloads_and_stores_it(tmp_path: Path, graph: FakeGraphAPI) -> None:
    graph.add_media("3013859600285441", wa.PDF, "application/pdf")
    channel = make_channel(tmp_path, graph.url)
    try:
        (message,) = channel.parse(hook(wa.document(PHONE, "3013859600285441", "lease.pdf")))
        assert isinstance(message, InboundMessage)
        media = await channel.fetch_media(message.media[0])
        (missing,) = channel.parse(hook(wa.image(PHONE, "4013859600285441")))
        assert isinstance(missing, InboundMessage)
        with pytest.raises(PermanentMediaError):  # not on the fake: asking again cannot help
            await channel.fetch_media(missing.media[0])
        graph.add_media("4013859600285441", wa.JPEG, "image/jpeg")
        graph.downloads.fail(1)
        with pytest.raises(MediaFetchError) as unavailable:  # a 503: tried again later
            await channel.fetch_media(missing.media[0])
        assert not isinstance(unavailable.value, PermanentMediaError)
    finally:
        graph.downloads.reset()
        await channel.close()
    assert media.url == "media:3013859600285441" and media.filename == "lease.pdf"
    assert media.stored_path is not None
    assert Path(media.stored_path).read_bytes() == wa.PDF
    assert Path(media.stored_path).name == hashlib.sha256(wa.PDF).hexdigest() + ".pdf"


# -- hypothesis: parse never raises anything but ValueError ------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
MESSAGE_TYPES = [
    "text",
    "interactive",
    "button",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "system",
    "unsupported",
    "order",
]


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy | JSON


MESSAGE = st.fixed_dictionaries(
    {
        "from": maybe(st.from_regex(r"\A9665[0-9]{8}\Z")),
        "id": maybe(st.text(min_size=1, max_size=140)),
        "type": maybe(st.sampled_from(MESSAGE_TYPES)),
    },
    optional={
        "timestamp": maybe(st.integers().map(str)),
        **{
            kind: maybe(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "body": JSON,
                        "id": maybe(st.from_regex(r"\A[0-9]{1,20}\Z")),
                        "mime_type": JSON,
                        "filename": JSON,
                        "caption": JSON,
                        "type": maybe(st.sampled_from(["button_reply", "list_reply"])),
                        "button_reply": maybe(st.fixed_dictionaries({"id": JSON, "title": JSON})),
                        "list_reply": JSON,
                        "payload": JSON,
                        "text": JSON,
                        "latitude": JSON,
                        "longitude": JSON,
                    },
                )
            )
            for kind in MESSAGE_TYPES
        },
    },
)
STATUS = st.fixed_dictionaries(
    {"id": JSON | st.text(max_size=140), "status": maybe(st.sampled_from(["sent", "failed"]))},
    optional={"errors": maybe(st.lists(st.fixed_dictionaries({"code": JSON}))), "timestamp": JSON},
)
WEBHOOK = st.fixed_dictionaries(
    {
        "entry": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "changes": maybe(
                            st.lists(
                                st.fixed_dictionaries(
                                    {
                                        "value": maybe(
                                            st.fixed_dictionaries(
                                                {
                                                    "metadata": maybe(
                                                        st.just(
                                                            {"phone_number_id": wa.PHONE_NUMBER_ID}
                                                        )
                                                    ),
                                                },
                                                optional={
                                                    "contacts": JSON,
                                                    "messages": maybe(st.lists(MESSAGE)),
                                                    "statuses": maybe(st.lists(STATUS)),
                                                },
                                            )
                                        )
                                    },
                                    optional={"field": maybe(st.just("messages"))},
                                ),
                                max_size=2,
                            )
                        )
                    }
                ),
                max_size=2,
            )
        )
    }
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=WEBHOOK | JSON)
def test_parse_fuzz_gives_messages_or_value_error(
    channel: WhatsAppCloudChannel, payload: Any
) -> None:
    try:
        body = json.dumps(payload).encode()
    except ValueError:  # NaN and friends are still JSON to Python
        return
    try:
        items = channel.parse(hook(body))
    except ValueError:
        return
    for item in items:
        assert isinstance(item, InboundMessage | StatusUpdate)
        if isinstance(item, InboundMessage):
            assert re.fullmatch(r"\+[0-9]{5,20}", item.address)
            assert 0 < len(item.provider_id) <= 128


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200))
def test_parse_fuzz_bytes(channel: WhatsAppCloudChannel, body: bytes) -> None:
    try:
        channel.parse(hook(body))
    except ValueError:
        pass


# -- the live gateway --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway(graph: FakeGraphAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with launch_gateway(tmp_path_factory.mktemp("wa"), wa.gateway_env(graph.url)) as live:
        yield live


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


_phones = iter(range(1000, 10_000))


def new_phone() -> str:
    return f"96655{next(_phones):07d}"


async def post(
    client: aiohttp.ClientSession,
    gateway: LiveGateway,
    payload: dict[str, Any] | bytes,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    body = payload if isinstance(payload, bytes) else wa.encode(payload)
    async with client.post(
        gateway.url + PATH, data=body, headers=headers if headers is not None else wa.sign(body)
    ) as response:
        return response.status, await response.text()


@dataclass
class User:
    """A beneficiary on WhatsApp: signed webhooks in, the fake Graph API's sends out."""

    client: aiohttp.ClientSession
    gateway: LiveGateway
    graph: FakeGraphAPI
    phone: str = field(default_factory=new_phone)
    seen: int = 0

    async def send(self, payload: dict[str, Any], replies: int = 1) -> list[dict[str, Any]]:
        status, _ = await post(self.client, self.gateway, payload)
        assert status == 200
        return await self.replies(replies)

    async def say(self, text: str, replies: int = 1) -> list[dict[str, Any]]:
        return await self.send(wa.text(self.phone, text), replies)

    async def press(self, button_id: str, title: str, replies: int = 1) -> list[dict[str, Any]]:
        return await self.send(wa.button_reply(self.phone, button_id, title), replies)

    async def pick(self, row_id: str, title: str, replies: int = 1) -> list[dict[str, Any]]:
        return await self.send(wa.list_reply(self.phone, row_id, title), replies)

    async def replies(self, count: int) -> list[dict[str, Any]]:
        if count == 0:
            return []
        found = await asyncio.to_thread(
            self.graph.wait_for,
            lambda r: (
                r.method == "POST" and isinstance(r.json, dict) and r.json.get("to") == self.phone
            ),
            self.seen + count,
            30.0,
        )
        new = [r.json for r in found[self.seen : self.seen + count]]
        self.seen += count
        return new


@pytest.fixture
def user(client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI) -> User:
    return User(client, gateway, graph)


async def earlier_replies_have_arrived(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI
) -> None:
    """A barrier, not a sleep: the gateway's one worker sends replies in the order they were
    queued, so once a newcomer's greeting queued now has arrived, so has any earlier reply."""
    await User(client, gateway, graph).say("مرحبا")


async def test_verification_handshake(client: aiohttp.ClientSession, gateway: LiveGateway) -> None:
    good = {
        "hub.mode": "subscribe",
        "hub.verify_token": wa.VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with client.get(gateway.url + PATH, params=good) as response:
        assert (response.status, await response.text()) == (200, "1158201444")
    for wrong in (
        {**good, "hub.verify_token": "guess"},
        {**good, "hub.mode": "unsubscribe"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ):
        async with client.get(gateway.url + PATH, params=wrong) as response:
            assert response.status == 403
            assert "1158201444" not in await response.text()


async def test_greeting_arrives_as_an_interactive_list(user: User) -> None:
    (reply,) = await user.say("مرحبا")
    assert reply["messaging_product"] == "whatsapp" and reply["to"] == user.phone
    assert reply["type"] == "interactive"
    interactive = reply["interactive"]
    assert interactive["type"] == "list"
    assert interactive["body"]["text"].startswith(f"أهلًا بك في {ARABIC_NAME}!")
    assert interactive["action"]["button"] == LIST_BUTTON_LABEL
    assert [title for _, title in choices(reply)] == MENU_AR
    assert [row_id for row_id, _ in choices(reply)][:2] == ["menu:inquiries", "menu:support"]
    (request,) = user.graph.sends(user.phone)
    assert request.path == f"/{wa.PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {wa.TOKEN}"


async def test_forged_or_unsigned_webhooks_are_refused(
    client: aiohttp.ClientSession, gateway: LiveGateway, graph: FakeGraphAPI
) -> None:
    phone = new_phone()
    payload = wa.text(phone, "مرحبا")
    body = wa.encode(payload)
    for headers in (
        {"Content-Type": "application/json"},
        wa.sign(body, "not-the-app-secret"),
        {**wa.sign(body), "X-Hub-Signature-256": "sha256=" + "0" * 64},
    ):
        assert (await post(client, gateway, body, headers))[0] == 403
    assert (await post(client, gateway, body + b" ", wa.sign(body)))[0] == 403
    await earlier_replies_have_arrived(client, gateway, graph)
    assert graph.sends(phone) == []
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    with database(gateway.database_url) as db:
        assert db.scalar(select(func.count()).where(Message.provider_id == wamid)) == 0


async def test_duplicate_wamids_get_one_reply(user: User) -> None:
    payload = wa.text(user.phone, "مرحبا")
    statuses = [(await post(user.client, user.gateway, payload))[0]]
    statuses += [
        status
        for status, _ in await asyncio.gather(
            *(post(user.client, user.gateway, payload) for _ in range(6))
        )
    ]
    assert statuses == [200] * 7
    await user.replies(1)
    await earlier_replies_have_arrived(user.client, user.gateway, user.graph)
    assert len(user.graph.sends(user.phone)) == 1
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    with database(user.gateway.database_url) as db:
        assert db.scalar(select(func.count()).where(Message.provider_id == wamid)) == 1


async def test_list_and_button_replies_are_understood(user: User) -> None:
    await user.say("مرحبا")
    intro, question = await user.pick("menu:support", "تقديم طلب دعم", replies=2)
    assert message_text(intro).startswith("لنعبّئ طلب الدعم معًا: عدد الأسئلة 11")
    assert message_text(question).startswith("السؤال 1 من 11: الاسم الرباعي")
    # Leave with the menu word, come back: the draft is offered with two reply buttons.
    await user.say("القائمة")
    (resume,) = await user.pick("menu:support", "تقديم طلب دعم")
    assert resume["interactive"]["type"] == "button"
    assert [i for i, _ in choices(resume)] == ["draft:continue", "draft:restart"]
    (question,) = await user.press("draft:continue", "إكمال")
    assert message_text(question).startswith("السؤال 1 من 11")


async def test_status_webhooks_update_the_stored_message(user: User) -> None:
    await user.say("مرحبا")
    wamid = await asyncio.to_thread(wait_accepted, user.graph, user.phone)
    await asyncio.to_thread(wait_status, user.gateway, wamid, "sent")
    for state, expected in (("delivered", "delivered"), ("read", "read"), ("delivered", "read")):
        status, text = await post(user.client, user.gateway, wa.status(wamid, state, user.phone))
        assert (status, text) == (200, "ok")
        assert await asyncio.to_thread(wait_status, user.gateway, wamid, expected) == (
            expected,
            None,
        )
    # A failed report on another message keeps Meta's error code.
    await user.say("1")
    failed = (await asyncio.to_thread(wait_accepted, user.graph, user.phone, 2))[-1][0]
    await asyncio.to_thread(wait_status, user.gateway, failed, "sent")
    await post(user.client, user.gateway, wa.status(failed, "failed", user.phone, 131026))
    assert await asyncio.to_thread(wait_status, user.gateway, failed, "failed") == (
        "failed",
        "131026",
    )


def wait_accepted(graph: FakeGraphAPI, phone: str, count: int = 1) -> Any:
    for _ in range(200):
        accepted = graph.accepted_to(phone)
        if len(accepted) >= count:
            return accepted if count > 1 else accepted[0][0]
        time.sleep(0.05)
    raise AssertionError(f"{phone} got {graph.accepted_to(phone)}")


def wait_status(gateway: LiveGateway, wamid: str, status: str) -> tuple[str, str | None]:
    found: tuple[str, str | None] | None = None
    for _ in range(200):
        with database(gateway.database_url) as db:
            row = db.execute(
                select(Message.status, Message.error_code).where(
                    Message.provider_id == wamid, Message.direction == "out"
                )
            ).first()
        found = (row[0], row[1]) if row else None
        if found and found[0] == status:
            return found
        time.sleep(0.05)
    raise AssertionError(f"message {wamid}: {found}, expected {status}")


async def test_image_is_downloaded_and_stored(user: User, cipher: Cipher) -> None:
    graph = user.graph
    graph.add_media("5013859600285441", wa.JPEG, "image/jpeg")
    payload = wa.image(user.phone, "5013859600285441", caption="صورة الهوية")
    await user.send(payload)
    wamid = payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    # The worker fetches it once the message is recorded: a lookup, then the download.
    await asyncio.to_thread(
        graph.wait_for, lambda r: r.path == "/media-download/5013859600285441", 1, 30.0
    )
    lookups = [r for r in graph.received() if r.path.endswith("5013859600285441")]
    assert [r.path for r in lookups] == [
        "/5013859600285441",
        "/media-download/5013859600285441",
    ]
    assert all(r.headers["Authorization"] == f"Bearer {wa.TOKEN}" for r in lookups)
    stored = (
        user.gateway.var_dir / "media" / hashlib.sha256(wa.JPEG).hexdigest()[:2]
    ) / f"{hashlib.sha256(wa.JPEG).hexdigest()}.jpg"
    with database(user.gateway.database_url) as db:
        message = db.scalar(select(Message).where(Message.provider_id == wamid))
        assert message is not None and message.body == "صورة الهوية"
        kept = {"message_id": message.id, "media_index": 0}
    assert await asyncio.to_thread(stored_attachment, user.gateway.database_url, kept) == stored
    assert stored.read_bytes() == wa.JPEG
    with database(user.gateway.database_url) as db:
        message = db.scalar(select(Message).where(Message.provider_id == wamid))
        assert message is not None
        (media,) = message.payload["media"]  # attached to the message once fetched
    assert media["url"] == "media:5013859600285441"
    assert media["content_type"] == "image/jpeg"
    assert Path(media["stored_path"]).resolve() == stored.resolve()


async def test_window_closed_sends_a_template(user: User) -> None:
    user.graph.window_closed.add(user.phone)
    refused, template = await user.say("مرحبا", replies=2)
    assert refused["type"] == "interactive"
    assert template["type"] == "template"
    templates = PROFILE_DATA.templates
    fallback = templates.get("reply_waiting") or next(t for t in templates.values() if t.meta_name)
    assert template["template"] == {
        "name": fallback.meta_name,
        "language": {"code": fallback.language},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": ARABIC_NAME}]}],
    }
    wamid = await asyncio.to_thread(wait_accepted, user.graph, user.phone)
    assert await asyncio.to_thread(wait_status, user.gateway, wamid, "sent") == ("sent", None)


async def test_transient_errors_are_retried(user: User) -> None:
    """One HTTP 500 for one beneficiary, one 130429 for another: both retried after 5 s."""
    other = User(user.client, user.gateway, user.graph)
    user.graph.fail_once.add(user.phone)
    user.graph.throttled[other.phone] = 1
    (first, second), (third, fourth) = await asyncio.gather(
        user.say("مرحبا", replies=2), other.say("مرحبا", replies=2)
    )
    assert first == second and third == fourth
    for who in (user, other):
        wamid = await asyncio.to_thread(wait_accepted, who.graph, who.phone)
        assert await asyncio.to_thread(wait_status, who.gateway, wamid, "sent") == ("sent", None)


async def test_whole_support_request_on_whatsapp(user: User, cipher: Cipher) -> None:
    nid = national_id(7301)
    user.graph.add_media("6013859600285441", wa.JPEG, "image/jpeg")
    await user.say("السلام عليكم")
    intro, _ = await user.pick("menu:support", "تقديم طلب دعم", replies=2)
    assert message_text(intro).startswith("لنعبّئ طلب الدعم معًا")
    for answer in (
        "أحمد علي صالح الحربي",
        nid,
        "12/05/1410",
        "15/08/1450",
        "٠٥٠١٢٣٤٥٦٧",
        "الرياض",
        "٥",
        "3500",
    ):
        (question,) = await user.say(answer)
    assert message_text(question).startswith("السؤال 9 من 11: نوع الدعم المطلوب")
    assert ("opt:rent", "المساعدة في سداد الإيجار") in choices(question)
    (question,) = await user.pick("opt:rent", "المساعدة في سداد الإيجار")
    assert message_text(question).startswith("السؤال 10 من 11")
    (question,) = await user.say("نحن أسرة من خمسة أفراد ونحتاج المساعدة في دفع الإيجار.")
    assert message_text(question).startswith("السؤال 11 من 11")
    (received,) = await user.send(wa.image(user.phone, "6013859600285441"))
    assert message_text(received).startswith("وصل")
    (summary,) = await user.say("تم")
    assert message_text(summary).startswith("يُرجى مراجعة إجاباتك:")
    assert f"رقم الهوية الوطنية أو الإقامة: {nid}" in message_text(summary)
    assert summary["interactive"]["type"] == "button"
    assert choices(summary) == [
        ("form:submit", "تأكيد وإرسال"),
        ("form:edit", "تعديل إجابة"),
        ("form:cancel", "إلغاء الطلب"),
    ]
    (attestation,) = await user.press("form:submit", "تأكيد وإرسال")
    assert message_text(attestation).startswith(PROFILE_DATA.support_form.attestation.text.ar)
    assert [i for i, _ in choices(attestation)] == ["form:attest", "form:cancel"]
    receipt, updates = await user.press("form:attest", "أقر وأؤكد", replies=2)
    reference = REFERENCE.search(message_text(receipt))
    assert reference is not None
    assert message_text(receipt).startswith(f"تم استلام طلبك، ورقمه المرجعي {reference.group()}.")
    assert PROFILE_DATA.consent.updates_question.ar in message_text(updates)

    with database(user.gateway.database_url) as db:
        request = db.scalar(
            select(SupportRequest).where(SupportRequest.reference == reference.group())
        )
        assert request is not None
        assert (request.channel, request.request_type, request.status) == (
            "whatsapp",
            "rent",
            "submitted",
        )
        assert request.answers["national_id"] == nid
        assert request.answers["mobile"] == "+966501234567"
        (document,) = request.answers["documents"]
        assert document["url"] == "media:6013859600285441"
    # The request keeps the file's message and position; the file is found once fetched.
    path = await asyncio.to_thread(stored_attachment, user.gateway.database_url, document)
    assert path.read_bytes() == wa.JPEG


# -- fuzzed bodies through HTTP: 4xx, never 500 ------------------------------------------------


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=WEBHOOK | JSON, raw=st.binary(max_size=100), sign_raw=st.booleans())
def test_fuzzed_webhooks_never_get_500(
    gateway: LiveGateway, payload: Any, raw: bytes, sign_raw: bool
) -> None:
    try:
        body = json.dumps(payload).encode()
    except ValueError:
        body = b"{}"
    url = gateway.url + PATH
    assert post_status(url, body, wa.sign(body)) in (200, 400)
    assert post_status(url, body, {"Content-Type": "application/json"}) == 403
    headers = wa.sign(raw) if sign_raw else {"X-Hub-Signature-256": "sha256=" + raw.hex()}
    headers["Content-Type"] = "application/json"  # what Meta sends
    assert post_status(url, raw, headers) in ((200, 400) if sign_raw else (403,))


def test_non_utf8_form_body_is_refused_with_4xx(gateway: LiveGateway) -> None:
    body = b"\x80\xff=\xfe"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert post_status(gateway.url + PATH, body, headers) == 403
    assert post_status(gateway.url + PATH, body, {**headers, **wa.sign(body)}) == 400
