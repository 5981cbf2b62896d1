"""The email channel: a real IMAP server (Debian's dovecot, started by
tests/fakes/dovecot_setup.sh), a real SMTP server (aiosmtpd) and a live gateway (serve + worker).

Beneficiaries' emails are APPENDed to the gateway's mailbox; the gateway's replies are read
from what the SMTP server received. Unit tests cover the quoted-history stripper, the parser
(with a fuzz test) and the SMTP error mapping.
"""

from __future__ import annotations

import asyncio
import hashlib
import imaplib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from sqlalchemy import select

from bot.crypto import Cipher
from bot.i18n import translator
from bot.media import MediaStore
from bot.models import AddressKind, Button, InboundMessage, OutboundMessage
from bot.profile_loader import load_profile
from bot.settings import load_settings
from bot.tables import Message, SupportRequest
from channels.base import (
    InDoubtSendError,
    PermanentSendError,
    RetryableSendError,
    ThrottledError,
)
from channels.context import ChannelContext
from channels.email import (
    EmailChannel,
    EmailSettings,
    IgnoredEmail,
    html_to_text,
    parse_email,
    strip_quoted,
)
from channels.render import numbered_text
from handlers.menu import menu_buttons
from tests.conftest import PROFILE, REDIS_URL, ROOT, SECRET_KEY, LiveGateway, launch_gateway
from tests.fakes.server import running
from tests.fakes.smtp import FakeSmtpServer, Received
from tests.journeys import database, form_answers_ar, national_id

AR = translator("ar")
PROFILE_DATA = load_profile(PROFILE)
SETUP_SCRIPT = ROOT / "tests" / "fakes" / "dovecot_setup.sh"
GATEWAY_ADDRESS = "help@charity.example.org"
IMAP_USER = "help@charity.example.org"
IMAP_PASSWORD = "imap-test-password"
REFERENCE = re.compile(r"R-\d{9}")
# A 1x1 transparent PNG and a minimal PDF: real files, small.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n%%EOF\n"


# -- servers ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dovecot:
    port: int
    directory: Path
    started_in: float


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """dovecot-imapd with one user, on a free port; installed first if it is missing."""
    if shutil.which("bash") is None:
        pytest.skip("bash is needed to start dovecot")
    directory = Path(tempfile.mkdtemp(prefix="tawasul-dovecot-"))
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(SETUP_SCRIPT), "start", str(directory), IMAP_USER, IMAP_PASSWORD],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"dovecot did not start:\n{result.stdout}\n{result.stderr}")
    port = int(result.stdout.strip().splitlines()[-1])
    try:
        yield Dovecot(port, directory, time.monotonic() - started)
    finally:
        subprocess.run(
            ["bash", str(SETUP_SCRIPT), "stop", str(directory)], capture_output=True, timeout=60
        )
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSmtpServer]:
    with running(FakeSmtpServer()) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, dovecot: Dovecot, smtp: FakeSmtpServer
) -> Iterator[LiveGateway]:
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_STARTTLS": "false",
        "SMTP_FROM": GATEWAY_ADDRESS,
        "IMAP_HOST": "127.0.0.1",
        "IMAP_PORT": str(dovecot.port),
        "IMAP_SSL": "false",
        "IMAP_USERNAME": IMAP_USER,
        "IMAP_PASSWORD": IMAP_PASSWORD,
    }
    with launch_gateway(tmp_path_factory.mktemp("email"), env) as live:
        yield live


@contextmanager
def imap(dovecot: Dovecot, mailbox: str = "INBOX") -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4("127.0.0.1", dovecot.port)
    try:
        client.login(IMAP_USER, IMAP_PASSWORD)
        client.select(mailbox)
        yield client
    finally:
        client.logout()


def append(dovecot: Dovecot, raw: bytes, mailbox: str = "INBOX") -> None:
    with imap(dovecot, mailbox) as client:
        status, _ = client.append(mailbox, None, None, raw)
        assert status == "OK"


def flags_of(dovecot: Dovecot, message_id: str, mailbox: str = "INBOX") -> list[bytes]:
    """The flags of every copy of the message with this Message-ID."""
    with imap(dovecot, mailbox) as client:
        _, found = client.uid("SEARCH", "HEADER", "Message-ID", message_id)
        uids = found[0].split()
        flags = []
        for uid in uids:
            _, data = client.uid("FETCH", uid.decode(), "(FLAGS)")
            flags.append(data[0] if isinstance(data[0], bytes) else b"")
        return flags


def wait_until_seen(dovecot: Dovecot, message_id: str, copies: int = 1, mailbox: str = "INBOX"):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        flags = flags_of(dovecot, message_id, mailbox)
        if len(flags) == copies and all(b"\\Seen" in f for f in flags):
            return
        time.sleep(0.1)
    raise AssertionError(f"not flagged \\Seen: {flags_of(dovecot, message_id, mailbox)}")


# -- composing beneficiaries' emails -----------------------------------------------------------
def new_sender(name: str = "layla") -> str:
    return f"{name}.{uuid.uuid4().hex[:8]}@example.net"


def email_from(
    sender: str,
    text: str,
    subject: str = "استفسار",  # "inquiry"
    *,
    in_reply_to: Received | None = None,
    attachments: tuple[tuple[bytes, str, str, str], ...] = (),
    display_name: str = "Layla Ahmed",
) -> tuple[bytes, str]:
    """An email from a beneficiary, as their client would write it; (raw bytes, Message-ID)."""
    mail = EmailMessage()
    mail["From"] = f"{display_name} <{sender}>"
    mail["To"] = GATEWAY_ADDRESS
    mail["Date"] = format_datetime(datetime.now(UTC))
    message_id = make_msgid(domain="example.net")
    mail["Message-ID"] = message_id
    if in_reply_to is not None:
        mail["Subject"] = in_reply_to.header("Subject")
        mail["In-Reply-To"] = in_reply_to.header("Message-ID")
        mail["References"] = (
            in_reply_to.header("References") + " " + in_reply_to.header("Message-ID")
        ).strip()
    else:
        mail["Subject"] = subject
    mail.set_content(text)
    for data, maintype, subtype, filename in attachments:
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(mail), message_id


def gmail_reply(answer: str, quoted: Received) -> str:
    """The answer on top, Gmail's attribution line, then the quoted email."""
    history = "\n".join("> " + line for line in quoted.text.split("\n"))
    return (
        f"{answer}\n\nOn Sun, Jan 7, 2024 at 10:00\u202fAM Model Charity <{GATEWAY_ADDRESS}> "
        f"wrote:\n\n{history}\n"
    )


def inbound_row(gateway: LiveGateway, message_id: str) -> list[Message]:
    with database(gateway.database_url) as db:
        rows = db.scalars(
            select(Message).where(
                Message.channel == "email",
                Message.direction == "in",
                Message.provider_id == message_id,
            )
        ).all()
        for row in rows:
            db.expunge(row)
        return list(rows)


def greeting_and_menu() -> str:
    greeting = AR.gettext("Welcome to {name}! How can we help you today?").format(
        name=PROFILE_DATA.name.ar
    )
    heading = AR.gettext("Choose a service:")
    return numbered_text(
        OutboundMessage(text=f"{greeting}\n\n{heading}", buttons=tuple(menu_buttons(AR)))
    )


# -- end to end ---------------------------------------------------------------------------------
def earlier_replies_have_arrived(smtp: FakeSmtpServer, dovecot: Dovecot) -> None:
    """A barrier, not a sleep: the gateway's one worker sends replies in the order they were
    queued, so once a newcomer's greeting queued now has arrived, so has any earlier reply."""
    newcomer = new_sender("barrier")
    append(dovecot, email_from(newcomer, "السلام")[0])
    smtp.wait_for(newcomer, timeout=30)


def test_an_email_is_answered_in_its_thread_with_the_menu(
    gateway: LiveGateway, smtp: FakeSmtpServer, dovecot: Dovecot, cipher: Cipher
) -> None:
    sender = new_sender()
    subject = "طلب مساعدة"  # "request for help"
    raw, message_id = email_from(sender, "مرحبا", subject)
    append(dovecot, raw)

    (reply,) = smtp.wait_for(sender, timeout=30)
    assert reply.rcpt_tos == (sender,)
    assert reply.mail_from == GATEWAY_ADDRESS
    assert reply.header("In-Reply-To") == message_id
    assert reply.header("References") == message_id
    assert reply.header("Subject") == f"Re: {subject}"
    assert reply.header("Message-ID").endswith("@charity.example.org>")
    assert reply.message.get_content_type() == "text/plain"
    assert reply.message.get_content_charset() == "utf-8"
    assert reply.text == greeting_and_menu()
    assert reply.text.startswith("أهلًا بك في جمعية البر الخيرية النموذجية!")
    assert "\n\n1. " in reply.text and "\n8. English" in reply.text
    wait_until_seen(dovecot, message_id)

    (row,) = inbound_row(gateway, message_id)
    assert row.body == "مرحبا"


def test_quoted_history_and_signature_never_reach_the_router(
    gateway: LiveGateway, smtp: FakeSmtpServer, dovecot: Dovecot, cipher: Cipher
) -> None:
    sender = new_sender("omar")
    raw, _ = email_from(sender, "hello")
    append(dovecot, raw)
    (menu,) = smtp.wait_for(sender, timeout=30)

    answer = "أحتاج مساعدة في دفع الإيجار"
    body = (
        f"{answer}\n\n-- \nعمر سعيد\n0501234567\n\n"
        "\u200fفي الأحد، 7 يناير"
        f" 2024 في 10:00 ص كتب <{GATEWAY_ADDRESS}>:\n"
        + "\n".join("> " + line for line in menu.text.split("\n"))
    )
    raw, message_id = email_from(sender, body, in_reply_to=menu)
    append(dovecot, raw)
    smtp.wait_for(sender, count=2)

    (row,) = inbound_row(gateway, message_id)
    assert row.body == answer
    assert row.payload["media"] == []


def test_the_same_email_twice_gets_one_reply(
    gateway: LiveGateway, smtp: FakeSmtpServer, dovecot: Dovecot, cipher: Cipher
) -> None:
    sender = new_sender("sara")
    raw, message_id = email_from(sender, "hi")
    append(dovecot, raw)
    append(dovecot, raw)  # a client that re-sends, or a server that delivers twice

    smtp.wait_for(sender, timeout=30)
    wait_until_seen(dovecot, message_id, copies=2)
    earlier_replies_have_arrived(smtp, dovecot)
    assert len(smtp.to(sender)) == 1
    assert len(inbound_row(gateway, message_id)) == 1


def test_an_attachment_only_email_is_stored_and_recorded(
    gateway: LiveGateway, smtp: FakeSmtpServer, dovecot: Dovecot, cipher: Cipher
) -> None:
    sender = new_sender("huda")
    mail = EmailMessage()
    mail["From"] = f"Huda <{sender}>"
    mail["To"] = GATEWAY_ADDRESS
    mail["Subject"] = "ID"
    message_id = make_msgid(domain="example.net")
    mail["Message-ID"] = message_id
    mail.set_content(PDF, maintype="application", subtype="pdf", filename="id-card.pdf")
    append(dovecot, bytes(mail))

    smtp.wait_for(sender, timeout=30)
    digest = hashlib.sha256(PDF).hexdigest()
    stored = gateway.var_dir / "media" / digest[:2] / f"{digest}.pdf"
    assert stored.read_bytes() == PDF
    (row,) = inbound_row(gateway, message_id)
    assert row.body in ("", None)
    (media,) = row.payload["media"]
    assert media["content_type"] == "application/pdf"
    assert media["filename"] == "id-card.pdf"
    assert media["stored_path"] == str(stored)
    wait_until_seen(dovecot, message_id)


def test_a_whole_support_request_by_email(
    gateway: LiveGateway, smtp: FakeSmtpServer, dovecot: Dovecot, cipher: Cipher
) -> None:
    sender = new_sender("ahmed")
    received = 0

    def say(text: str, replies: int = 1, first: bool = False) -> list[Received]:
        """Reply to the gateway's last email (quoting it, as Gmail does); its answers."""
        nonlocal received
        if first:
            raw, _ = email_from(sender, text, "طلب دعم")
        else:
            last = smtp.to(sender)[-1]
            raw, _ = email_from(sender, gmail_reply(text, last), in_reply_to=last)
        append(dovecot, raw)
        received += replies
        answers = smtp.wait_for(sender, count=received, timeout=30)[-replies:]
        for answer in answers:
            assert answer.header("Subject") == "Re: طلب دعم"
        return answers

    (menu,) = say("مرحبا", first=True)
    assert menu.text == greeting_and_menu()
    intro, first = say("2", replies=2)
    assert intro.text.startswith("لنعبّئ طلب الدعم معًا: عدد الأسئلة 11")
    assert first.text.startswith("السؤال 1 من 11: الاسم الرباعي")
    answers = form_answers_ar(national_id(7001))
    for number, answer in enumerate(answers, start=2):
        (question,) = say(answer)
        if number <= 11:
            assert question.text.startswith(f"السؤال {number} من 11"), question.text
    (summary,) = say("تخطي")
    assert summary.text.startswith("يُرجى مراجعة إجاباتك:")
    assert f"• رقم الهوية الوطنية أو الإقامة: {national_id(7001)}" in summary.text
    (attestation,) = say("1")
    assert attestation.text.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    receipt, updates = say("أقر", replies=2)
    reference = REFERENCE.search(receipt.text)
    assert reference is not None
    assert receipt.text.startswith(f"تم استلام طلبك، ورقمه المرجعي {reference.group()}.")
    assert "لجنة البحث" in receipt.text
    assert PROFILE_DATA.consent.updates_question.ar in updates.text
    # Every reply answered the beneficiary's latest email, in one thread.
    assert receipt.header("In-Reply-To") == updates.header("In-Reply-To")
    assert receipt.header("References").split()[0] == menu.header("In-Reply-To")

    with database(gateway.database_url) as db:
        request = db.scalar(
            select(SupportRequest).where(SupportRequest.reference == reference.group())
        )
        assert request is not None
        assert (request.status, request.channel) == ("submitted", "email")
        assert request.answers["national_id"] == national_id(7001)


def test_the_gateway_reconnects_when_the_server_drops_it(
    gateway: LiveGateway, smtp: FakeSmtpServer, dovecot: Dovecot
) -> None:
    subprocess.run(
        ["doveadm", "-c", str(dovecot.directory / "dovecot.conf"), "kick", IMAP_USER],
        check=True,
        capture_output=True,
        timeout=30,
    )
    sender = new_sender("after.kick")
    raw, message_id = email_from(sender, "hello again")
    append(dovecot, raw)
    (reply,) = smtp.wait_for(sender, timeout=30)
    assert reply.header("In-Reply-To") == message_id
    wait_until_seen(dovecot, message_id)


# -- in process, against the same servers -------------------------------------------------------
@pytest.fixture
async def channel(
    tmp_path: Path, smtp: FakeSmtpServer, dovecot: Dovecot, cipher: Cipher
) -> AsyncIterator[EmailChannel]:
    redis = Redis.from_url(REDIS_URL)
    settings = load_settings(
        var_dir=tmp_path, redis_url=REDIS_URL, secret_key=SECRET_KEY, profile=PROFILE
    )
    email_settings = EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        smtp_from=GATEWAY_ADDRESS,
        imap_host="127.0.0.1",
        imap_port=dovecot.port,
        imap_ssl=False,
        imap_username=IMAP_USER,
        imap_password=IMAP_PASSWORD,
        imap_mailbox="Retry",
    )
    context = ChannelContext(
        settings, redis, REDIS_URL, cipher, PROFILE_DATA, MediaStore(tmp_path / "media")
    )
    email = EmailChannel(context, email_settings)
    await email.start()
    yield email
    await email.close()
    await redis.aclose()


async def test_a_message_is_fetched_again_when_delivery_fails(
    channel: EmailChannel, dovecot: Dovecot
) -> None:
    with imap(dovecot) as client:
        client.create("Retry")
    raw, message_id = email_from(new_sender("retry"), "hello")
    await asyncio.to_thread(append, dovecot, raw, "Retry")
    delivered: list[InboundMessage] = []

    async def deliver(message: InboundMessage) -> None:
        delivered.append(message)
        if len(delivered) == 1:
            raise RuntimeError("the database is down")

    poller = asyncio.create_task(channel.poll(deliver))
    try:
        for _ in range(200):
            if len(delivered) >= 2:
                break
            await asyncio.sleep(0.05)
        assert [m.provider_id for m in delivered] == [message_id, message_id]
        assert not poller.done()  # the failure was logged, the poller carried on
        await asyncio.to_thread(wait_until_seen, dovecot, message_id, 1, "Retry")
    finally:
        poller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poller


async def _poll_until_logged(
    channel: EmailChannel, caplog: pytest.LogCaptureFixture, needle: str, times: int
) -> None:
    """Run the poller until `needle` was logged `times` times; it must still be running."""
    poller = asyncio.create_task(channel.poll(lambda message: asyncio.sleep(0)))

    def logged() -> int:
        return sum(needle in r.getMessage() for r in caplog.records)

    try:
        for _ in range(200):
            if logged() >= times or poller.done():
                break
            await asyncio.sleep(0.05)
        assert logged() >= times
        assert not poller.done()
    finally:
        poller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poller


async def test_a_wrong_password_never_stops_the_poller(
    channel: EmailChannel, caplog: pytest.LogCaptureFixture
) -> None:
    settings = channel.settings.model_copy(update={"imap_password": None})
    wrong = EmailChannel(channel.context, settings)
    await _poll_until_logged(wrong, caplog, "LOGIN refused", 1)
    assert IMAP_PASSWORD not in caplog.text


async def test_an_unreachable_imap_server_is_retried(
    channel: EmailChannel, caplog: pytest.LogCaptureFixture
) -> None:
    settings = channel.settings.model_copy(update={"imap_port": _closed_port()})
    down = EmailChannel(channel.context, settings)
    await _poll_until_logged(down, caplog, "mailbox session ended", 2)  # retried after 1 s


async def test_send_headers_without_a_thread(channel: EmailChannel, smtp: FakeSmtpServer) -> None:
    address = new_sender("new")
    message = OutboundMessage(text="Hello", buttons=(Button("a", "One"), Button("b", "Two")))
    result = await channel.send(AddressKind.EMAIL, address, message)
    (mail,) = smtp.wait_for(address)
    assert mail.header("Message-ID") == result.provider_id
    assert mail.header("Subject") == f"{PROFILE_DATA.name.ar} | {PROFILE_DATA.name.en}"
    assert mail.header("In-Reply-To") == "" and mail.header("References") == ""
    assert mail.text == "Hello\n\n1. One\n2. Two"
    assert PROFILE_DATA.short_name.ar in mail.header("From")
    assert GATEWAY_ADDRESS in mail.header("From")


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("550 5.1.1 No such user here", PermanentSendError, "smtp-550"),
        ("553 5.1.3 Bad recipient address syntax", PermanentSendError, "smtp-553"),
        ("450 4.2.1 Mailbox busy, try later", RetryableSendError, "smtp-450"),
        ("421 4.7.0 Too many messages, slow down", ThrottledError, "smtp-421"),
    ],
)
async def test_smtp_replies_become_typed_send_errors(
    channel: EmailChannel, smtp: FakeSmtpServer, reply: str, error: type[Exception], code: str
) -> None:
    address = new_sender("refused")
    smtp.reject[address] = reply
    with pytest.raises(error) as raised:
        await channel.send(AddressKind.EMAIL, address, OutboundMessage(text="x"))
    assert type(raised.value) is error
    assert raised.value.code == code  # type: ignore[attr-defined]
    # The next message goes through on a fresh connection.
    other = new_sender("fine")
    await channel.send(AddressKind.EMAIL, other, OutboundMessage(text="y"))
    smtp.wait_for(other)


async def test_a_connection_lost_once_the_message_went_is_in_doubt(
    channel: EmailChannel, smtp: FakeSmtpServer
) -> None:
    address = new_sender("lost")
    smtp.drop_after_data.add(address.lower())
    with pytest.raises(InDoubtSendError) as raised:
        await channel.send(AddressKind.EMAIL, address, OutboundMessage(text="x"))
    assert raised.value.code == "no-answer"
    assert len(smtp.to(address)) == 1  # the server has it: sending again would double it
    other = new_sender("fine")
    await channel.send(AddressKind.EMAIL, other, OutboundMessage(text="y"))
    smtp.wait_for(other)


async def test_an_unreachable_smtp_server_is_retryable(channel: EmailChannel) -> None:
    settings = channel.settings.model_copy(update={"smtp_port": _closed_port()})
    down = EmailChannel(channel.context, settings)
    with pytest.raises(RetryableSendError) as raised:
        await down.send(AddressKind.EMAIL, new_sender(), OutboundMessage(text="x"))
    assert type(raised.value) is RetryableSendError
    with pytest.raises(PermanentSendError):
        await down.send(
            AddressKind.EMAIL, "not an address\r\nBcc: x@y.z", OutboundMessage(text="x")
        )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the stripper -------------------------------------------------------------------------------
GMAIL_EN = """Option 2 please.

On Sun, Jan 7, 2024 at 10:00 AM Model Charity <help@charity.example.org> wrote:

> Choose a service:
> 1. Questions
"""
GMAIL_EN_WRAPPED = """Thank you

On Sun, Jan 7, 2024 at 10:00 AM Model Charity Association <
help@charity.example.org> wrote:

> Choose a service:
"""
GMAIL_AR = (
    "نعم، أرغب في ذلك\n\n"
    "\u200fفي الأحد، ٧ يناير"
    " ٢٠٢٤ في ١٠:٠٠ ص تمت "
    "كتابة ما يلي بواسط"
    "ة \u202aجمعية البر\u202c\u200f <\u202ahelp@charity.example.org\u202c\u200f>:\n"
    "> اختر الخدمة:\n"
)
APPLE_AR = (
    "٢\n\nأُرسلت من الـ iPhone\n\n"
    "\u200fفي ٧ يناير ٢٠٢٤، "
    "الساعة ١٠:٠٠ ص، كتب"
    " جمعية البر <help@charity.example.org>:\n\n\u200f> مرحبا\n"
)
APPLE_EN = """Yes, that is right

Sent from my iPhone

> On 7 Jan 2024, at 10:00, Model Charity <help@charity.example.org> wrote:
>
> Is this correct?
"""
OUTLOOK_EN = """I need help with school fees.

-----Original Message-----
From: Model Charity <help@charity.example.org>
Sent: Sunday, January 7, 2024 10:00 AM
To: Layla <layla@example.net>
Subject: RE: Help

Choose a service:
"""
OUTLOOK_WEB = """OK thanks

________________________________
From: Model Charity <help@charity.example.org>
Sent: Sunday, January 7, 2024 10:00
To: Layla
Subject: Help

Choose a service:
"""
OUTLOOK_AR = (
    "حسنًا، شكرًا لكم\n\n"
    "-----الرسالة الأصلية-----\n"
    "من: جمعية البر <help@charity.example.org>\n"
    "أُرسلت: الأحد، 7 يناير 2024 10:00 ص\n"
    "الموضوع: مساعدة\n\nاختر الخدمة:\n"
)
OUTLOOK_AR_HEADERS = (
    "موافق\n\n"
    "من: جمعية البر <help@charity.example.org>\n"
    "تاريخ الإرسال: الأحد، 7 يناير 2024 10:00 ص\n"
    "إلى: ليلى\n"
    "الموضوع: مساعدة\n\nاختر الخدمة:\n"
)
SIGNATURE = "My national ID is attached.\n\n-- \nLayla Ahmed\nRiyadh\n"
SIGNATURE_NO_SPACE = "Thanks\n--\nLayla\n"
OUTLOOK_MOBILE = "Ok\n\nGet Outlook for Android\n________________________________\nFrom: x\n"
BOTTOM_POSTED = """On Sun, Jan 7, 2024 at 10:00 AM Model Charity <help@charity.example.org> wrote:
> Which request do you mean?

R-100123
"""
INLINE_QUOTES = "> Question 1 of 11: your name\nLayla Ahmed Saleh\n> old\n"
PLAIN = "السلام عليكم\nأريد الاستفسار عن موعد صرف المساعدة\n\nشكرا"
ONLY_QUOTED = "On Sun, Jan 7, 2024 at 10:00 AM Charity <help@charity.example.org> wrote:\n> hi\n"
FROM_IN_TEXT = "From: my mother\nShe needs help too"  # no Sent:/Date: line: not a header


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GMAIL_EN, "Option 2 please."),
        (GMAIL_EN_WRAPPED, "Thank you"),
        (GMAIL_AR, "نعم، أرغب في ذلك"),
        (APPLE_AR, "٢"),
        (APPLE_EN, "Yes, that is right"),
        (OUTLOOK_EN, "I need help with school fees."),
        (OUTLOOK_WEB, "OK thanks"),
        (OUTLOOK_AR, "حسنًا، شكرًا لكم"),
        (OUTLOOK_AR_HEADERS, "موافق"),
        (SIGNATURE, "My national ID is attached."),
        (SIGNATURE_NO_SPACE, "Thanks"),
        (OUTLOOK_MOBILE, "Ok"),
        (BOTTOM_POSTED, "R-100123"),
        (INLINE_QUOTES, "Layla Ahmed Saleh"),
        (PLAIN, PLAIN),
        (ONLY_QUOTED, ""),
        (FROM_IN_TEXT, FROM_IN_TEXT),
        (GMAIL_EN.replace("\n", "\r\n"), "Option 2 please."),
    ],
    ids=[
        "gmail-en",
        "gmail-en-wrapped",
        "gmail-ar",
        "apple-ar",
        "apple-en",
        "outlook-en",
        "outlook-web",
        "outlook-ar",
        "outlook-ar-headers",
        "signature",
        "signature-no-space",
        "outlook-mobile",
        "bottom-posted",
        "inline-quotes",
        "plain",
        "only-quoted",
        "from-in-text",
        "crlf",
    ],
)
def test_strip_quoted(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


def test_html_to_text_drops_quotes_and_keeps_lines() -> None:
    gmail = (
        '<div dir="rtl">نعم<br>شكرًا&nbsp;لكم</div><br><div class="gmail_quote">'
        '<div class="gmail_attr">On Sun ... wrote:<br></div><blockquote class="gmail_quote">'
        "<div>old</div></blockquote></div>"
    )
    assert strip_quoted(html_to_text(gmail)) == "نعم\nشكرًا لكم"
    outlook = (
        "<html><head><style>p{}</style></head><body><p>Yes</p>"
        '<div id="appendonsend"></div><hr><div id="divRplyFwdMsg">From: x</div>'
        "<div>old message</div></body></html>"
    )
    assert strip_quoted(html_to_text(outlook)) == "Yes"
    apple = '<div>OK</div><div><br><blockquote type="cite"><div>old</div></blockquote></div>'
    assert strip_quoted(html_to_text(apple)) == "OK"


# -- the parser ---------------------------------------------------------------------------------
def _mail(**headers: str) -> EmailMessage:
    mail = EmailMessage()
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    return mail


def test_parse_prefers_plain_text_and_lower_cases_the_sender() -> None:
    mail = _mail(From="Layla <Layla.Ahmed@Example.NET>", Subject=" Help \t me ", Message_ID="<a@b>")
    mail.set_content("Plain answer\n\n> quoted")
    mail.add_alternative("<p>HTML answer</p>", subtype="html")
    parsed = parse_email(bytes(mail))
    assert parsed.message == InboundMessage(
        channel="email",
        address_kind=AddressKind.EMAIL,
        address="layla.ahmed@example.net",
        provider_id="<a@b>",
        text="Plain answer",
        sender_name="Layla",
        received_at=parsed.message.received_at,
    )
    assert parsed.subject == "Help me"
    assert parsed.references == ("<a@b>",)


def test_parse_html_only_windows_1256_and_thread_references() -> None:
    mail = _mail(
        From="x@example.net",
        Message_ID="<c@d>",
        In_Reply_To="<b@gw>",
        References="<root@gw> <b@gw>",
    )
    mail.set_content("<div>مرحبا<br>بكم</div>", subtype="html", charset="windows-1256")
    parsed = parse_email(bytes(mail))
    assert parsed.message.text == "مرحبا\nبكم"
    assert parsed.references == ("<root@gw>", "<b@gw>", "<c@d>")
    assert parsed.message_id == "<c@d>"


def test_parse_attachments_and_an_empty_text() -> None:
    mail = _mail(From="x@example.net", Message_ID="<e@f>")
    mail.set_content("")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="../../id.png")
    mail.add_attachment(b"notes", maintype="text", subtype="plain", filename="notes.txt")
    parsed = parse_email(bytes(mail))
    assert parsed.message.text == ""
    assert [(a.content_type, a.filename, a.data) for a in parsed.attachments] == [
        ("image/png", "id.png", PNG),
        ("text/plain", "notes.txt", b"notes"),
    ]


def test_parse_ids_without_a_usable_message_id() -> None:
    raw = b"From: x@example.net\r\nSubject: hi\r\n\r\nhello\r\n"
    assert parse_email(raw).message.provider_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    long_id = "<" + "a" * 200 + "@example.net>"
    raw = f"From: x@example.net\r\nMessage-ID: {long_id}\r\n\r\nhello\r\n".encode()
    provider_id = parse_email(raw).message.provider_id
    assert provider_id == "sha256:" + hashlib.sha256(long_id.encode()).hexdigest()
    assert len(provider_id) <= 128


@pytest.mark.parametrize(
    "headers",
    [
        "Auto-Submitted: auto-replied\r\n",
        "Precedence: bulk\r\n",
        "X-Autoreply: yes\r\n",
        "Return-Path: <>\r\n",
        "Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n",
    ],
)
def test_automatic_messages_are_not_answered(headers: str) -> None:
    raw = f"From: x@example.net\r\n{headers}Message-ID: <g@h>\r\n\r\nI am away\r\n".encode()
    with pytest.raises(IgnoredEmail):
        parse_email(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"Subject: no sender\r\n\r\nhi",
        b"From: not an address\r\n\r\nhi",
        b"From: MAILER-DAEMON@example.net\r\n\r\nbounce",
    ],
)
def test_unusable_messages_are_value_errors(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_email(raw)


def test_our_own_messages_are_ignored() -> None:
    raw = f"From: Charity <{GATEWAY_ADDRESS.upper()}>\r\n\r\nhi".encode()
    with pytest.raises(IgnoredEmail):
        parse_email(raw, own_address=GATEWAY_ADDRESS)


def _check_parse(raw: bytes) -> None:
    try:
        parsed = parse_email(raw)
    except ValueError:
        return
    assert isinstance(parsed.message, InboundMessage)
    assert parsed.message.address == parsed.message.address.lower()
    assert len(parsed.message.provider_id) <= 128
    assert len(parsed.message.text) <= 4096


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_parser_fuzz_arbitrary_bytes(raw: bytes) -> None:
    _check_parse(raw)


_HEADER_NAMES = st.sampled_from(
    [
        b"From",
        b"Message-ID",
        b"References",
        b"In-Reply-To",
        b"Subject",
        b"Content-Type",
        b"Content-Transfer-Encoding",
        b"Content-Disposition",
        b"MIME-Version",
        b"Auto-Submitted",
    ]
)
_HEADER_VALUES = st.one_of(
    st.binary(max_size=120),
    st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"x@example.net",
            b'"Layla" <layla@example.net>',
            b"=?utf-8?b?2YTZitmE2Yk=?= <a@b.c>",
            b"multipart/mixed; boundary=b",
            b"multipart/alternative; boundary=b",
            b"text/html; charset=bogus-charset",
            b"text/plain; charset*=utf-8''%E2%82",
            b"application/pdf; name*0=a; name*1=b",
            b"message/rfc822",
            b"base64",
            b"quoted-printable",
            b"x-uuencode",
            b"attachment; filename*=utf-8''%D8%A7.png",
            b"<a@b> <c@d",
        ]
    ),
)
_BODIES = st.one_of(
    st.binary(max_size=600),
    st.sampled_from(
        [
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: text/html\r\n\r\n"
            b"<p>hi<blockquote>x</p>\r\n--b--\r\n",
            b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!=\r\n",
            b"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: y@z\r\n\r\nin\r\n--b--",
            b"<![if x]><p>broken <!-- </p>",
        ]
    ),
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=8), _BODIES)
def test_parser_fuzz_message_shaped_bytes(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    raw = b"From: a@example.net\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    _check_parse(raw + b"\r\n" + body)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=500))
def test_strip_quoted_and_html_never_fail(text: str) -> None:
    assert isinstance(strip_quoted(text), str)
    assert isinstance(html_to_text(text), str)
