"""SMS and WhatsApp through Twilio: captured-format payloads parsed, signatures checked, send
errors mapped against a fake Twilio API, and a live gateway (serve + worker) driven by signed
webhooks: replies, forged requests, duplicates, delivery reports, media, buttons, opted-out
recipients, the WhatsApp 24-hour window, retries, and a whole support request on WhatsApp."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import given, settings
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
    SendFailure,
    StatusUpdate,
    Template,
)
from bot.profile import Profile, WhatsAppTemplate
from bot.profile_loader import load_profile
from bot.settings import load_settings
from bot.tables import ContactAddress, Message, SupportRequest
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
from channels.twilio import EMPTY_TWIML, MAX_BODY, TwilioChannel, TwilioSettings
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY, LiveGateway, launch_gateway
from tests.fakes.server import post_status, running
from tests.fakes.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    Reply,
    Sent,
    fixture,
    fixture_names,
    new_sid,
    payload,
    sign,
)
from tests.journeys import database, form_answers_ar, national_id
from tests.waiting import eventually

PROFILE_DATA = load_profile(PROFILE)
SMS_FROM = "+12025550143"
WHATSAPP_FROM = "whatsapp:+966501234567"
INBOUND, STATUS = "/webhooks/twilio", "/webhooks/twilio/status"
GREETING = "أهلًا بك في جمعية البر الخيرية النموذجية"
MENU_LINES = [
    "1. أسئلة واستفسارات",
    "2. تقديم طلب دعم",
    "3. حالة الطلب",
    "4. شكوى أو اقتراح",
    "5. التحدث مع موظف",
    "6. اشتراك التحديثات",
    "7. الخصوصية وبياناتي",
    "8. English",
]
REFERENCE = re.compile(r"R-\d{9}")
T = TypeVar("T")

_numbers = count(1)


def new_phone() -> str:
    """A Saudi mobile number no other test uses."""
    return f"+9665{40000000 + next(_numbers):08d}"


def png_bytes() -> bytes:
    """A valid 1×1 PNG, made here rather than checked in."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x1f\x7a\x4c")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


# -- a channel in this process, for parse/verify/send tests ---------------------------------
def channel_for(
    tmp_path: Path, api_base: str | None = None, profile: Profile = PROFILE_DATA, **overrides: Any
) -> TwilioChannel:
    values: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "sms_from": SMS_FROM,
        "whatsapp_from": WHATSAPP_FROM,
        "api_base": api_base,
        **overrides,
    }
    settings = load_settings(
        var_dir=tmp_path / "var",
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        public_url="https://tawasul.example.org",
    )
    context = ChannelContext(
        settings,
        Redis.from_url(REDIS_URL),
        REDIS_URL,
        Cipher(SECRET_KEY),
        profile,
        MediaStore(tmp_path / "var" / "media"),
    )
    return TwilioChannel(context, TwilioSettings(**values))


def hook(path: str, form: dict[str, str], signature: str | None = None) -> WebhookRequest:
    url = "https://tawasul.example.org" + path
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    body = urllib.parse.urlencode(form).encode()
    return WebhookRequest("POST", path, url, headers, {}, body, form)


@pytest.fixture(scope="module", autouse=True)
def _keys(cipher: Cipher) -> Cipher:
    """Stored messages are encrypted: reading them needs the gateway's key."""
    return cipher


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> TwilioChannel:
    return channel_for(tmp_path_factory.mktemp("twilio-offline"))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as server:
        yield server


@pytest.fixture
async def channel(tmp_path: Path, fake: FakeTwilio) -> AsyncIterator[TwilioChannel]:
    twilio = channel_for(tmp_path, fake.url)
    await twilio.start()
    yield twilio
    await twilio.close()


# -- parse: captured payloads ---------------------------------------------------------------
@pytest.mark.parametrize("name", fixture_names())
def test_captured_payloads_parse(offline: TwilioChannel, name: str) -> None:
    captured = fixture(name)
    expect = captured["expect"]
    items = offline.parse(hook(captured["path"], captured["form"]))
    if expect["kind"] == "ignored":
        assert items == []
        return
    (item,) = items
    if expect["kind"] == "status":
        assert isinstance(item, StatusUpdate)
        assert (item.channel, item.provider_id, item.status, item.error_code) == (
            "twilio",
            expect["provider_id"],
            DeliveryStatus(expect["status"]),
            expect["error_code"],
        )
        # The code means what it would mean in the API's answer to the send (errors.py).
        failure = expect["failure"]
        assert item.failure == (SendFailure(failure) if failure else None)
        return
    assert isinstance(item, InboundMessage)
    assert item.channel == "twilio"
    assert item.address_kind is AddressKind(expect["address_kind"])
    assert (item.address, item.provider_id, item.text) == (
        expect["address"],
        expect["provider_id"],
        expect["text"],
    )
    assert (item.button_id, item.sender_name) == (expect["button_id"], expect["sender_name"])
    assert [{"url": m.url, "content_type": m.content_type} for m in item.media] == expect["media"]


@pytest.mark.parametrize(
    ("path", "fixture_name", "changes", "error"),
    [
        (INBOUND, "sms_text", {"MessageSid": None}, "no MessageSid"),
        (INBOUND, "sms_text", {"MessageSid": "SM 1"}, "malformed MessageSid"),
        (INBOUND, "sms_text", {"From": None}, "no From"),
        (INBOUND, "sms_text", {"From": "0501234567"}, "E.164"),
        (INBOUND, "whatsapp_text", {"From": "whatsapp:"}, "E.164"),
        (INBOUND, "sms_text", {"From": "messenger:1234567"}, "unsupported Twilio channel"),
        (INBOUND, "whatsapp_media", {"NumMedia": "two"}, "NumMedia"),
        (INBOUND, "whatsapp_media", {"NumMedia": "11"}, "NumMedia"),
        (INBOUND, "whatsapp_media", {"NumMedia": "2"}, "MediaUrl1"),
        (INBOUND, "whatsapp_media", {"MediaUrl0": "file:///etc/passwd"}, "MediaUrl0"),
        (STATUS, "status_sent", {"MessageSid": None, "SmsSid": None}, "no MessageSid"),
        (STATUS, "status_sent", {"MessageStatus": None, "SmsStatus": None}, "MessageStatus"),
        (STATUS, "status_undelivered", {"ErrorCode": "30003; DROP"}, "ErrorCode"),
        ("/webhooks/twilio/other", "sms_text", {}, "no Twilio webhook"),
    ],
)
def test_malformed_payloads_are_refused(
    offline: TwilioChannel,
    path: str,
    fixture_name: str,
    changes: dict[str, str | None],
    error: str,
) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        offline.parse(hook(path, payload(fixture_name, **changes)))


FIELDS = [
    "MessageSid",
    "SmsSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "MediaUrl0",
    "MediaContentType0",
    "MediaUrl1",
    "ProfileName",
    "WaId",
    "ButtonText",
    "ButtonPayload",
    "ListId",
    "MessageStatus",
    "SmsStatus",
    "ErrorCode",
]
PLAUSIBLE = st.sampled_from(
    [
        "",
        "0",
        "1",
        "2",
        "10",
        "-1",
        "SM" + "a" * 32,
        "+966501234567",
        "whatsapp:+966501234567",
        "whatsapp:",
        "sms:+966501234567",
        "http://127.0.0.1:1/media",
        "delivered",
        "read",
        "failed",
        "received",
        "63016",
        "٣",
    ]
)
FORMS = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=12), PLAUSIBLE | st.text(max_size=40), max_size=12
)


@settings(max_examples=400, deadline=None)
@given(form=FORMS, path=st.sampled_from([INBOUND, STATUS]))
def test_parse_returns_messages_or_raises_value_error(
    offline: TwilioChannel, form: dict[str, str], path: str
) -> None:
    try:
        items = offline.parse(hook(path, form))
    except ValueError:
        return
    assert all(isinstance(item, InboundMessage | StatusUpdate) for item in items)
    for item in items:
        assert item.provider_id
        if isinstance(item, InboundMessage):
            assert item.address.startswith("+")


# -- verify -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "valid"),
    [
        ("signed", True),
        ("lowercase header", True),
        ("signed with the port in the URL", True),
        ("missing signature", False),
        ("empty signature", False),
        ("another token", False),
        ("another URL", False),
        ("body changed after signing", False),
        ("field added after signing", False),
    ],
)
async def test_signatures(offline: TwilioChannel, case: str, valid: bool) -> None:
    form = payload("sms_text")
    url = "https://tawasul.example.org" + INBOUND
    signature: str | None = sign(url, form)
    headers_key = "X-Twilio-Signature"
    if case == "lowercase header":
        headers_key = "x-twilio-signature"
    elif case == "signed with the port in the URL":
        signature = sign("https://tawasul.example.org:443" + INBOUND, form)
    elif case == "missing signature":
        signature = None
    elif case == "empty signature":
        signature = ""
    elif case == "another token":
        signature = sign(url, form, "0" * 32)
    elif case == "another URL":
        signature = sign("https://attacker.example" + INBOUND, form)
    elif case == "body changed after signing":
        form = {**form, "Body": "STOP"}
    elif case == "field added after signing":
        form = {**form, "ButtonPayload": "menu:privacy"}
    headers = {} if signature is None else {headers_key: signature}
    request = WebhookRequest("POST", INBOUND, url, headers, {}, b"", form)
    assert await offline.verify(request) is valid


def test_acknowledgements(offline: TwilioChannel) -> None:
    message = offline.acknowledge(hook(INBOUND, payload("sms_text")), [1])
    assert (message.status, message.content_type, message.text) == (200, "text/xml", EMPTY_TWIML)
    status = offline.acknowledge(hook(STATUS, payload("status_sent")), [None])
    assert status.status == 204


# -- send, against the fake API ---------------------------------------------------------------
async def test_sms_renders_buttons_as_numbers_and_splits_long_texts(
    channel: TwilioChannel, fake: FakeTwilio
) -> None:
    to = new_phone()
    menu = OutboundMessage("اختر:", buttons=(Button("a", "الأول"), Button("b", "الثاني")))
    result = await channel.send(AddressKind.SMS, to, menu)
    (sent,) = fake.sent_to(to)
    assert sent.sid == result.provider_id and sent.sid.startswith("SM")
    assert sent.form["Body"] == "اختر:\n\n1. الأول\n2. الثاني"
    assert sent.form["From"] == SMS_FROM
    assert sent.form["StatusCallback"] == "https://tawasul.example.org/webhooks/twilio/status"

    paragraph = "كلمة " * 250  # 1,250 characters
    long = OutboundMessage("\n\n".join([paragraph.strip()] * 3))
    result = await channel.send(AddressKind.SMS, to, long)
    parts = fake.sent_to(to)[1:]
    assert len(parts) == 3
    assert all(len(part.body) <= MAX_BODY for part in parts)
    assert result.provider_id == parts[0].sid  # delivery reports follow the first part


async def test_whatsapp_sends_from_the_whatsapp_sender_with_media(
    channel: TwilioChannel, fake: FakeTwilio
) -> None:
    to = new_phone()
    picture = "https://example.org/card.png"
    message = OutboundMessage("بطاقتك", media=(Media("image/png", url=picture),))
    await channel.send(AddressKind.WHATSAPP, to, message)
    (sent,) = fake.sent_to("whatsapp:" + to)
    assert sent.form["From"] == WHATSAPP_FROM
    assert sent.media_urls == [picture]
    # On SMS the link travels in the text (MMS does not reach Saudi numbers).
    await channel.send(AddressKind.SMS, to, message)
    (sms,) = fake.sent_to(to)
    assert sms.body == f"بطاقتك\n{picture}"


async def test_a_handler_template_is_sent_by_content_sid(
    channel: TwilioChannel, fake: FakeTwilio
) -> None:
    to = new_phone()
    template = Template("survey_invitation", {"1": "R-100001"})
    await channel.send(AddressKind.WHATSAPP, to, OutboundMessage("text", template=template))
    (sent,) = fake.sent_to("whatsapp:" + to)
    assert sent.form["ContentSid"] == PROFILE_DATA.templates["survey_invitation"].twilio_content_sid
    assert json.loads(sent.form["ContentVariables"]) == {"1": "R-100001"}
    assert "Body" not in sent.form
    with pytest.raises(PermanentSendError) as raised:
        unknown = OutboundMessage("text", template=Template("no_such_template"))
        await channel.send(AddressKind.WHATSAPP, to, unknown)
    assert raised.value.code == "no-template"


@dataclass(frozen=True)
class SendCase:
    name: str
    kind: AddressKind
    replies: tuple[Reply, ...] = ()
    opted_out: bool = False
    window_closed: bool = False
    error: type[SendError] | None = None
    code: str | None = None


SEND_CASES = [
    SendCase("accepted", AddressKind.SMS),
    SendCase("opted out", AddressKind.SMS, opted_out=True, error=ContactStoppedError, code="21610"),
    SendCase("throttled", AddressKind.SMS, (Reply(429),), error=ThrottledError, code="20429"),
    SendCase("server error", AddressKind.SMS, (Reply(500),), error=RetryableSendError),
    SendCase("unavailable", AddressKind.WHATSAPP, (Reply(503),), error=RetryableSendError),
    SendCase(
        "invalid number",
        AddressKind.SMS,
        (Reply(400, 21211),),
        error=PermanentSendError,
        code="21211",
    ),
    SendCase("window closed", AddressKind.WHATSAPP, window_closed=True),
    # The request went and no answer came in time: the message may be at Twilio.
    SendCase("too slow", AddressKind.SMS, (Reply(201, delay=2.0),), error=InDoubtSendError),
]


@pytest.mark.parametrize("case", SEND_CASES, ids=[case.name for case in SEND_CASES])
async def test_send_errors_are_typed(
    channel: TwilioChannel, fake: FakeTwilio, case: SendCase
) -> None:
    number = new_phone()
    to = "whatsapp:" + number if case.kind is AddressKind.WHATSAPP else number
    fake.script(to, *case.replies)
    if case.opted_out:
        fake.opt_out(to)
    if case.window_closed:
        fake.close_window(to)
    channel.send_timeout = 0.5
    if case.error is None:
        result = await channel.send(case.kind, number, OutboundMessage("مرحبا"))
        assert result.provider_id == fake.sent_to(to)[-1].sid
        return
    with pytest.raises(case.error) as raised:
        await channel.send(case.kind, number, OutboundMessage("مرحبا"))
    if case.code is not None:
        assert raised.value.code == case.code
    assert number not in str(raised.value)  # Twilio's text (which may quote it) stays out


async def test_two_server_errors_then_success(channel: TwilioChannel, fake: FakeTwilio) -> None:
    to = new_phone()
    fake.script(to, Reply(500), Reply(500))
    for _ in range(2):
        with pytest.raises(RetryableSendError):
            await channel.send(AddressKind.SMS, to, OutboundMessage("x"))
    result = await channel.send(AddressKind.SMS, to, OutboundMessage("x"))
    assert [sent.sid for sent in fake.sent_to(to)] == [result.provider_id]


async def test_unreachable_twilio_is_retryable(tmp_path: Path) -> None:
    twilio = channel_for(tmp_path, "http://127.0.0.1:9")  # nothing listens on port 9
    await twilio.start()
    try:
        with pytest.raises(RetryableSendError) as raised:
            await twilio.send(AddressKind.SMS, new_phone(), OutboundMessage("x"))
        assert raised.value.code == "network"
    finally:
        await twilio.close()


async def test_window_closed_without_a_twilio_template_fails(
    tmp_path: Path, fake: FakeTwilio
) -> None:
    meta_only = PROFILE_DATA.model_copy(
        update={"templates": {"update": WhatsAppTemplate(meta_name="update", language="ar")}}
    )
    twilio = channel_for(tmp_path, fake.url, profile=meta_only)
    number = new_phone()
    fake.close_window("whatsapp:" + number)
    try:
        with pytest.raises(PermanentSendError, match="window closed, no template") as raised:
            await twilio.send(AddressKind.WHATSAPP, number, OutboundMessage("x"))
        assert raised.value.code == "63016"
    finally:
        await twilio.close()


async def test_a_queued_reply_waiting_falls_back_like_a_refusal(
    tmp_path: Path, fake: FakeTwilio
) -> None:
    """The router queues `reply_waiting` after a late 63016; a profile without it sends the
    first template with a Content SID, as a refusal met while sending does."""
    status = WhatsAppTemplate(twilio_content_sid="HX" + "cd" * 16, language="en")
    meta_only = WhatsAppTemplate(meta_name="association_update", language="ar")
    profile = PROFILE_DATA.model_copy(update={"templates": {"update": meta_only, "s": status}})
    twilio = channel_for(tmp_path, fake.url, profile=profile)
    number = new_phone()
    queued = OutboundMessage("", template=Template("reply_waiting", {"1": "x"}))
    try:
        await twilio.send(AddressKind.WHATSAPP, number, queued)
    finally:
        await twilio.close()
    (sent,) = fake.sent_to("whatsapp:" + number)
    assert sent.form["ContentSid"] == status.twilio_content_sid


def test_window_template_prefers_reply_waiting(tmp_path: Path) -> None:
    waiting = WhatsAppTemplate(twilio_content_sid="HX" + "ab" * 16, language="ar")
    status = WhatsAppTemplate(twilio_content_sid="HX" + "cd" * 16, language="en")
    meta_only = WhatsAppTemplate(meta_name="association_update", language="ar")

    def chosen(templates: dict[str, WhatsAppTemplate]) -> tuple[str, WhatsAppTemplate] | None:
        profile = PROFILE_DATA.model_copy(update={"templates": templates})
        return channel_for(tmp_path, profile=profile).window_template()

    assert chosen({"update": meta_only, "status": status, "reply_waiting": waiting}) == (
        "reply_waiting",
        waiting,
    )
    assert chosen({"update": meta_only, "status": status}) == ("status", status)
    assert chosen({"update": meta_only}) is None


async def test_a_messaging_service_can_be_the_sender(tmp_path: Path, fake: FakeTwilio) -> None:
    service = "MG" + "0f" * 16
    twilio = channel_for(tmp_path, fake.url, whatsapp_from=service)
    to = new_phone()
    try:
        await twilio.send(AddressKind.WHATSAPP, to, OutboundMessage("x"))
    finally:
        await twilio.close()
    (sent,) = fake.sent_to("whatsapp:" + to)
    assert sent.form["MessagingServiceSid"] == service and "From" not in sent.form
    assert sent.resource["status"] == "accepted"


async def test_one_http_session_serves_api_and_media(
    channel: TwilioChannel, fake: FakeTwilio
) -> None:
    await channel.start()  # idempotent: still the one session
    to = new_phone()
    await channel.send(AddressKind.WHATSAPP, to, OutboundMessage("x"))
    url = fake.add_media(png_bytes(), "image/png")
    await channel.fetch_media(Media("image/png", url))
    (send,) = fake.received(lambda r: r.method == "POST" and r.form.get("To") == "whatsapp:" + to)
    (media,) = fake.received(lambda r: r.method == "GET" and url.endswith(r.path))
    # The download went over the connection the send left open: one pool for both.
    assert send.peer is not None and media.peer == send.peer


async def test_media_download_uses_twilio_credentials(
    channel: TwilioChannel, fake: FakeTwilio
) -> None:
    content = png_bytes()
    url = fake.add_media(content, "image/png")
    message = InboundMessage(
        "twilio", AddressKind.WHATSAPP, new_phone(), new_sid("MM"), media=(Media("image/png", url),)
    )
    stored_media = await channel.fetch_media(message.media[0])
    assert stored_media.url == url and stored_media.stored_path is not None
    assert Path(stored_media.stored_path).read_bytes() == content
    (api,) = fake.received(lambda r: r.method == "GET" and url.endswith(r.path))
    login = aiohttp.BasicAuth.decode(api.headers["Authorization"])
    assert (login.login, login.password) == (ACCOUNT_SID, AUTH_TOKEN)
    media_sid = url.rsplit("/", 1)[1]
    assert fake.received(lambda r: r.path == f"/cdn/{media_sid}")  # followed Twilio's redirect

    # Media Twilio does not have is final; an unreachable server is tried again later.
    with pytest.raises(PermanentMediaError):
        await channel.fetch_media(Media("image/png", url + "0"))
    with pytest.raises(MediaFetchError) as unreachable:
        await channel.fetch_media(Media("image/png", "http://127.0.0.1:9/x"))
    assert not isinstance(unreachable.value, PermanentMediaError)


def test_credentials_go_to_twilio_only(tmp_path: Path) -> None:
    twilio = channel_for(tmp_path, "http://127.0.0.1:8999")
    assert twilio._trusted("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1")
    assert twilio._trusted("http://127.0.0.1:8999/2010-04-01/Accounts/AC1/Media/ME1")
    assert not twilio._trusted("http://api.twilio.com/media")  # not over TLS
    assert not twilio._trusted("https://api.twilio.com.attacker.example/media")
    assert not twilio._trusted("http://127.0.0.1:9000/media")


# -- the live gateway ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake: FakeTwilio) -> Iterator[LiveGateway]:
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_API_BASE": fake.url,
    }
    with launch_gateway(tmp_path_factory.mktemp("twilio"), env) as live:
        yield live


@dataclass
class Answer:
    status: int
    content_type: str
    text: str


async def post(
    http: aiohttp.ClientSession,
    gateway: LiveGateway,
    path: str,
    form: dict[str, str],
    signature: str | None = "sign",
) -> Answer:
    """Post a webhook as Twilio does: form-encoded, signed over the public URL."""
    url = gateway.url + path
    headers = {}
    if signature == "sign":
        headers["X-Twilio-Signature"] = sign(url, form)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    async with http.post(url, data=form, headers=headers) as response:
        return Answer(response.status, response.content_type, await response.text())


@dataclass
class Beneficiary:
    """One phone writing to the association through signed Twilio webhooks."""

    http: aiohttp.ClientSession
    gateway: LiveGateway
    fake: FakeTwilio
    phone: str
    whatsapp: bool = True
    name: str = "أبو محمد"

    @property
    def to(self) -> str:
        """How the fake sees this beneficiary in the `To` of our replies."""
        return "whatsapp:" + self.phone if self.whatsapp else self.phone

    def form(self, text: str, **extra: str | None) -> dict[str, str]:
        sid = new_sid("SM")
        fields: dict[str, str | None]
        if self.whatsapp:
            fields = {
                "From": "whatsapp:" + self.phone,
                "WaId": self.phone[1:],
                "ProfileName": self.name,
                "ChannelMetadata": None,
            }
            base = "whatsapp_text"
        else:
            fields, base = {"From": self.phone}, "sms_text"
        fields.update(
            MessageSid=sid, SmsMessageSid=sid, SmsSid=sid, Body=text, AccountSid=ACCOUNT_SID
        )
        fields.update(extra)
        return payload(base, **fields)

    async def write(self, text: str, **extra: str | None) -> dict[str, str]:
        form = self.form(text, **extra)
        answer = await post(self.http, self.gateway, INBOUND, form)
        assert (answer.status, answer.content_type, answer.text) == (200, "text/xml", EMPTY_TWIML)
        return form

    async def say(self, text: str, replies: int = 1, **extra: str | None) -> list[str]:
        """Write, and return the bodies of the next `replies` messages the fake accepted."""
        before = len(self.fake.sent_to(self.to))
        await self.write(text, **extra)
        sent = await asyncio.to_thread(self.fake.wait_sent, self.to, before + replies)
        return [message.body for message in sent[before : before + replies]]


def beneficiary(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, whatsapp: bool = True
) -> Beneficiary:
    return Beneficiary(http, gateway, fake, new_phone(), whatsapp)


async def earlier_replies_have_arrived(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    """A barrier, not a sleep: the gateway's one worker sends replies in the order they were
    queued, so once a newcomer's greeting queued now has arrived, so has any earlier reply."""
    await beneficiary(http, gateway, fake).say("مرحبا")


def stored(gateway: LiveGateway, provider_id: str) -> Message | None:
    with database(gateway.database_url) as db:
        return db.scalar(select(Message).where(Message.provider_id == provider_id))


def sent_message(gateway: LiveGateway, sent: Sent, status: str = "sent") -> Message:
    """Our stored outbound message once the worker recorded the fake's SID and `status`."""
    return eventually(
        lambda: (m := stored(gateway, sent.sid)) is not None and m.status == status and m
    )


async def test_an_sms_gets_the_greeting_and_numbered_menu(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, cipher: Cipher
) -> None:
    person = beneficiary(http, gateway, fake, whatsapp=False)
    (reply,) = await person.say("مرحبا")
    assert reply.startswith(GREETING)
    assert "\n".join(MENU_LINES) in reply
    (sent,) = fake.sent_to(person.phone)
    assert sent.form["From"] == SMS_FROM
    message = sent_message(gateway, sent)
    # The message's own id travels with the send, in its own status-callback URL.
    assert sent.form["StatusCallback"] == f"{gateway.url}{STATUS}?m={message.id}"
    assert (message.direction, message.channel, message.attempts) == ("out", "twilio", 1)
    with database(gateway.database_url) as db:
        kinds = db.scalars(
            select(ContactAddress.kind).where(
                ContactAddress.address_hash == cipher.lookup_hash(person.phone)
            )
        ).all()
    assert kinds == ["sms"]


@pytest.mark.parametrize(
    "forgery",
    [
        "no signature",
        "signed with another token",
        "signed for another URL",
        "body changed after signing",
    ],
)
async def test_forged_webhooks_get_403_and_leave_no_trace(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, forgery: str
) -> None:
    person = beneficiary(http, gateway, fake)
    form = person.form("مرحبا")
    url = gateway.url + INBOUND
    signature: str | None = {
        "no signature": None,
        "signed with another token": sign(url, form, "f" * 32),
        "signed for another URL": sign("https://tawasul.example.org" + INBOUND, form),
        "body changed after signing": sign(url, {**form, "Body": "hello"}),
    }[forgery]
    answer = await post(http, gateway, INBOUND, form, signature=signature)
    assert answer.status == 403
    assert stored(gateway, form["MessageSid"]) is None
    await earlier_replies_have_arrived(http, gateway, fake)
    assert fake.sent_to(person.to) == []


async def test_malformed_signed_webhooks_get_400(
    http: aiohttp.ClientSession, gateway: LiveGateway
) -> None:
    for path, form in [
        (INBOUND, payload("sms_text", MessageSid=None)),
        (INBOUND, payload("sms_text", From=None)),
        (STATUS, payload("status_sent", MessageStatus=None, SmsStatus=None)),
    ]:
        answer = await post(http, gateway, path, form)
        assert answer.status == 400, (path, form)


async def test_duplicates_get_one_reply(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    person = beneficiary(http, gateway, fake)
    # Twilio retried a webhook: the same MessageSid twice, one after the other…
    form = person.form("مرحبا")
    for _ in range(2):
        answer = await post(http, gateway, INBOUND, form)
        assert answer.status == 200
    # …and three copies of another at the same moment.
    again = person.form("القائمة")
    answers = await asyncio.gather(*(post(http, gateway, INBOUND, again) for _ in range(3)))
    assert [a.status for a in answers] == [200, 200, 200]
    await asyncio.to_thread(fake.wait_sent, person.to, 2)
    await earlier_replies_have_arrived(http, gateway, fake)
    assert len(fake.sent_to(person.to)) == 2
    with database(gateway.database_url) as db:
        for sid in (form["MessageSid"], again["MessageSid"]):
            copies = db.scalar(select(func.count(Message.id)).where(Message.provider_id == sid))
            assert copies == 1


STATUS_STEPS = [
    # (captured callback, status stored afterwards, error code stored afterwards)
    ("status_sent", "sent", None),
    ("status_queued", "sent", None),  # late and lower: ignored
    ("status_whatsapp_delivered", "delivered", None),
    ("status_sent", "delivered", None),
    ("status_read", "read", None),
    ("status_failed", "failed", "63016"),
]


async def test_status_callbacks_move_the_stored_message(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    person = beneficiary(http, gateway, fake)
    await person.say("مرحبا")
    (sent,) = fake.sent_to(person.to)
    sent_message(gateway, sent)
    for name, status, error_code in STATUS_STEPS:
        form = payload(name, MessageSid=sent.sid, SmsSid=sent.sid, To=person.to)
        answer = await post(http, gateway, STATUS, form)
        assert answer.status == 204, name
        message = stored(gateway, sent.sid)
        assert message is not None
        assert (message.status, message.error_code) == (status, error_code), name
    # A report for a message we do not know is acknowledged and changes nothing.
    unknown = payload("status_delivered", MessageSid=new_sid("SM"), SmsSid=None)
    assert (await post(http, gateway, STATUS, unknown)).status == 204


async def test_media_is_downloaded_and_stored(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    person = beneficiary(http, gateway, fake)
    content = png_bytes()
    url = fake.add_media(content, "image/png")
    extra = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/png"}
    await person.write("صورة الهوية", MessageType="image", **extra)
    digest = hashlib.sha256(content).hexdigest()
    path = gateway.var_dir / "media" / digest[:2] / f"{digest}.png"
    assert eventually(path.exists)  # fetched by the worker once the webhook was answered
    assert path.read_bytes() == content
    media_requests = fake.received(lambda r: r.method == "GET" and url.endswith(r.path))
    assert media_requests and media_requests[-1].headers["Authorization"].startswith("Basic ")


async def test_stored_path_is_recorded_in_the_message_payload(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, cipher: Cipher
) -> None:
    person = beneficiary(http, gateway, fake)
    content = png_bytes()[:-4] + b"\x00\x00\x00\x01"  # other bytes, another file
    url = fake.add_media(content, "image/png")
    extra = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/png"}
    form = await person.write("", MessageType="image", **extra)

    def fetched() -> dict[str, str] | None:
        message = stored(gateway, form["MessageSid"])
        assert message is not None  # recorded before the webhook was answered
        (media,) = message.payload["media"]
        return media if media.get("stored_path") else None

    media = eventually(fetched)  # the worker fetched the file and attached it to the message
    digest = hashlib.sha256(content).hexdigest()
    assert (media["url"], media["content_type"]) == (url, "image/png")
    assert media["stored_path"].endswith(f"{digest}.png")


async def test_whatsapp_button_reply_starts_the_support_request(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    person = beneficiary(http, gateway, fake)
    await person.say("مرحبا")
    intro, question = await person.say(
        "تقديم طلب دعم",
        replies=2,
        MessageType="button",
        ButtonText="تقديم طلب دعم",
        ButtonPayload="menu:support",
    )
    assert intro.startswith("لنعبّئ طلب الدعم معًا")
    assert question.startswith("السؤال 1 من 11")


async def test_opted_out_recipient_is_stopped(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, cipher: Cipher
) -> None:
    person = beneficiary(http, gateway, fake, whatsapp=False)
    fake.opt_out(person.to)
    form = await person.write("مرحبا")
    inbound = stored(gateway, form["MessageSid"])
    assert inbound is not None

    def failed() -> Message | None:
        with database(gateway.database_url) as db:
            return db.scalar(
                select(Message).where(
                    Message.conversation_id == inbound.conversation_id,
                    Message.direction == "out",
                    Message.status == "failed",
                )
            )

    message = eventually(failed)
    assert (message.error_code, message.attempts) == ("21610", 1)

    def stopped() -> ContactAddress | None:  # the worker stops the address right after
        with database(gateway.database_url) as db:
            return db.scalar(
                select(ContactAddress).where(
                    ContactAddress.kind == "sms",
                    ContactAddress.address_hash == cipher.lookup_hash(person.phone),
                    ContactAddress.stopped_at.is_not(None),
                )
            )

    eventually(stopped)
    assert fake.sent_to(person.to) == []


async def test_window_closed_sends_the_approved_template(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, offline: TwilioChannel
) -> None:
    person = beneficiary(http, gateway, fake)
    fake.close_window(person.to)
    await person.write("مرحبا")
    (sent,) = await asyncio.to_thread(fake.wait_sent, person.to, 1)
    chosen = offline.window_template()  # reply_waiting, else the first with a Content SID
    assert chosen is not None
    _name, template = chosen
    assert sent.form["ContentSid"] == template.twilio_content_sid
    assert json.loads(sent.form["ContentVariables"]) == {
        "1": PROFILE_DATA.short_name.get(template.language)
    }
    assert "Body" not in sent.form
    refused = fake.received(lambda r: r.form.get("To") == person.to and "ContentSid" not in r.form)
    assert len(refused) == 1 and refused[0].form["Body"].startswith(GREETING)
    message = sent_message(gateway, sent)
    assert (message.attempts, message.error_code) == (1, None)


async def test_server_errors_are_retried_until_delivered(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    """The worker retries after 5 s, 30 s, 2 min…: one 503 costs the first interval, ~5 s.
    (Two in a row would take 35 s; the channel's side of that is tested in-process above.)"""
    person = beneficiary(http, gateway, fake, whatsapp=False)
    fake.script(person.to, Reply(503))
    started = time.monotonic()
    await person.write("مرحبا")
    (sent,) = await asyncio.to_thread(fake.wait_sent, person.to, 1, 30.0)
    # rq keeps a retry's due time in whole seconds, so a 5 s interval may end up to 1 s early.
    assert time.monotonic() - started >= 3.9
    assert sent.body.startswith(GREETING)
    message = sent_message(gateway, sent)
    assert (message.attempts, message.error_code) == (2, None)


async def test_a_whole_support_request_on_whatsapp(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    person = beneficiary(http, gateway, fake)
    nid = national_id(3001)
    (greeting,) = await person.say("مرحبا")
    assert greeting.startswith(GREETING)
    intro, first = await person.say("2", replies=2)
    assert intro.startswith("لنعبّئ طلب الدعم معًا: عدد الأسئلة 11")
    assert first.startswith("السؤال 1 من 11")
    answers = form_answers_ar(nid)
    for number, answer in enumerate(answers, 2):
        (question,) = await person.say(answer)
        assert question.startswith(f"السؤال {number} من 11"), question
    (summary,) = await person.say("تخطي")
    assert summary.startswith("يُرجى مراجعة إجاباتك:")
    assert f"• رقم الهوية الوطنية أو الإقامة: {nid}" in summary
    (attestation,) = await person.say("1")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    receipt, updates = await person.say("أقر", replies=2)
    reference = REFERENCE.search(receipt)
    assert reference is not None
    assert receipt.startswith(f"تم استلام طلبك، ورقمه المرجعي {reference.group()}.")
    assert PROFILE_DATA.consent.updates_question.ar in updates
    with database(gateway.database_url) as db:
        request = db.scalar(
            select(SupportRequest).where(SupportRequest.reference == reference.group())
        )
        assert request is not None
        assert (request.channel, request.status) == ("twilio", "submitted")
        assert request.answers["national_id"] == nid


# -- fuzzed webhooks through HTTP ---------------------------------------------------------------
def post_sync(url: str, form: dict[str, str], signature: str | None) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return post_status(url, urllib.parse.urlencode(form).encode(), headers)


@settings(max_examples=25, deadline=None)
@given(
    form=FORMS,
    path=st.sampled_from([INBOUND, STATUS]),
    signed=st.booleans(),
    malformed=st.booleans(),
)
def test_fuzzed_webhooks_never_get_500(
    gateway: LiveGateway, form: dict[str, str], path: str, signed: bool, malformed: bool
) -> None:
    if malformed:
        form = {k: v for k, v in form.items() if k not in ("MessageSid", "SmsSid")}
    url = gateway.url + path
    status = post_sync(url, form, sign(url, form) if signed else None)
    assert status < 500
    if not signed:
        assert status == 403
    elif malformed:
        assert status == 400


async def test_a_window_closed_report_is_followed_by_the_template_once(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio
) -> None:
    """In production Twilio accepts the send and reports 63016 later, in the status callback:
    the reply then goes again as the approved template, to the same number, and only once."""
    person = beneficiary(http, gateway, fake)
    await person.say("مرحبا")
    (sent,) = fake.sent_to(person.to)
    sent_message(gateway, sent)
    report = payload("status_failed", MessageSid=sent.sid, SmsSid=sent.sid, To=person.to)
    for _ in range(2):  # Twilio may repeat a report
        assert (await post(http, gateway, STATUS, report)).status == 204
    accepted = await asyncio.to_thread(fake.wait_sent, person.to, 2)
    template = accepted[1]
    assert template.form["ContentSid"] == PROFILE_DATA.templates["reply_waiting"].twilio_content_sid
    assert json.loads(template.form["ContentVariables"]) == {"1": PROFILE_DATA.short_name.ar}
    await earlier_replies_have_arrived(http, gateway, fake)
    assert len(fake.sent_to(person.to)) == 2  # not a second template
    refused = stored(gateway, sent.sid)
    assert refused is not None and (refused.status, refused.error_code) == ("failed", "63016")


async def test_a_web_chat_visitor_links_their_phone_with_a_code_sent_by_sms(
    http: aiohttp.ClientSession, gateway: LiveGateway, fake: FakeTwilio, cipher: Cipher
) -> None:
    from bot.i18n import translator
    from bot.tables import Contact, ContactAddress, Conversation
    from tests.chat_client import ChatClient
    from tests.journeys import arabic_digits, exchange

    ar = translator("ar")
    person = beneficiary(http, gateway, fake, whatsapp=False)
    await person.say("مرحبا")  # the number wrote by SMS before: a contact with history
    phone_contact = stored(gateway, fake.sent_to(person.phone)[0].sid)
    assert phone_contact is not None

    chat = await ChatClient(http, gateway.url).start()
    await exchange(chat, "مرحبا")
    (ask,) = await exchange(chat, "ربط الجوال")
    assert ask == ar.gettext(
        "To see your requests from WhatsApp or SMS here, write your mobile number "
        "and I will send it a code."
    )
    before = len(fake.sent_to(person.phone))
    (sent,) = await exchange(chat, "0" + person.phone[4:])  # typed the local way, 05…
    assert person.phone in sent
    code_sms = (await asyncio.to_thread(fake.wait_sent, person.phone, before + 1))[before]
    assert code_sms.form["From"] == SMS_FROM
    found = re.search(r"(?<!\d)(\d{6})(?!\d)", code_sms.body)
    assert found is not None
    code = found.group(1)

    wrong = "000000" if code != "000000" else "111111"
    (reply,) = await exchange(chat, wrong)
    assert reply == ar.ngettext(
        "That code is not right. You can try {n} more time.",
        "That code is not right. You can try {n} more times.",
        4,
    ).format(n=4)
    (done,) = await exchange(chat, arabic_digits(code))
    assert done.startswith(
        ar.gettext(
            "Done: {phone} is linked. Your requests and messages from WhatsApp and SMS "
            "are now together with this conversation."
        ).format(phone=person.phone)
    )

    session_hash = cipher.lookup_hash(chat.session.split(".")[0])
    with database(gateway.database_url) as db:
        web = db.scalar(select(ContactAddress).where(ContactAddress.address_hash == session_hash))
        assert web is not None
        kinds = db.scalars(
            select(ContactAddress.kind).where(ContactAddress.contact_id == web.contact_id)
        ).all()
        assert sorted(kinds) == ["sms", "webchat"]
        conversation = db.scalar(
            select(Conversation.id).where(Conversation.contact_id == web.contact_id)
        )
        # The SMS history (the greeting the phone got) moved into this conversation.
        moved = db.get(Message, phone_contact.id)
        assert moved is not None and moved.conversation_id == conversation
        # The contact the number had on its own is gone: one beneficiary, one contact.
        phone_hash = cipher.lookup_hash(person.phone)
        owners = db.scalars(
            select(ContactAddress.contact_id).where(ContactAddress.address_hash == phone_hash)
        ).all()
        assert set(owners) == {web.contact_id}
        assert db.scalar(select(func.count(Contact.id)).where(Contact.id == web.contact_id)) == 1
