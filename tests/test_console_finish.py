"""The console's last pieces in a real browser (Chromium) against a live `tawasul serve` and
`tawasul worker`, with Twilio's API faked: an officer finds beneficiaries by their exact name
however it is typed (the name WhatsApp gives, the name written in the support form); a
complaint is claimed from the inbox and assigned to a colleague; past WhatsApp's 24-hour
window, closing a hand-off and a complaint sends the profile's approved templates; the
timeline shows which journey the bot was in for each message."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select, update

from bot.crypto import Cipher
from bot.db import Database
from bot.tables import Complaint, Contact, ContactAddress, Conversation, Handoff, Message
from tests.conftest import SECRET_KEY, LiveGateway, launch_gateway
from tests.fakes.server import running
from tests.fakes.twilio import FakeTwilio
from tests.journeys import database, national_id
from tests.test_console_work import (
    OFFICER,
    RESEARCHER,
    TIMEOUT,
    Chat,
    add_staff,
    sign_in,
    twilio_env,
    twilio_writes,
)
from tests.waiting import eventually

QUALITY = "quality@example.org"
T = TypeVar("T")
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake: FakeTwilio) -> Iterator[LiveGateway]:
    with launch_gateway(tmp_path_factory.mktemp("console-finish"), twilio_env(fake)) as live:
        add_staff(live, OFFICER, "هيفاء العمري", "officer")
        add_staff(live, RESEARCHER, "عبدالله الشهري", "researcher")
        add_staff(live, QUALITY, "نوال القحطاني", "quality")
        yield live


@pytest.fixture(autouse=True)
def _reads_encrypted_rows(cipher: Cipher) -> None:
    """The tests read stored records, whose personal columns need the gateway's key."""


class WhatsApp:
    """A beneficiary on WhatsApp through Twilio: each message waits for the bot's first reply
    (the turn is saved by then, so the next message reads the state it left)."""

    def __init__(self, gateway: LiveGateway, fake: FakeTwilio, name: str) -> None:
        self.gateway, self.fake, self.name = gateway, fake, name
        self.phone = "+9665" + str(time.time_ns())[-8:]
        self.to = "whatsapp:" + self.phone

    def write(self, text: str) -> None:
        before = len(self.fake.sent_to(self.to))
        twilio_writes(self.gateway, self.phone, text, self.name)
        self.fake.wait_sent(self.to, before + 1)


def contact_of_phone(gateway: LiveGateway, phone: str) -> tuple[int, int]:
    """(contact id, conversation id) of the beneficiary writing from this WhatsApp number."""
    address_hash = Cipher(SECRET_KEY).lookup_hash(phone)
    with database(gateway.database_url) as db:
        row = db.execute(
            select(ContactAddress.contact_id, Conversation.id)
            .join(Conversation, Conversation.contact_id == ContactAddress.contact_id)
            .where(ContactAddress.address_hash == address_hash)
        ).first()
        assert row is not None
        return row[0], row[1]


def test_an_officer_finds_beneficiaries_by_their_exact_name(
    gateway: LiveGateway, desk: BrowserContext, fake: FakeTwilio
) -> None:
    whatsapp = WhatsApp(gateway, fake, "محمد العتيبي")
    whatsapp.write("مرحبا")
    by_whatsapp, _ = contact_of_phone(gateway, whatsapp.phone)
    # Another beneficiary files a support request on the web chat, under the form's name.
    chat = Chat(gateway.url).start()
    reference = chat.file_request(national_id(8808))

    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/contacts")
    officer.locator("#q").fill("محمّد  العتيبي")  # a shadda, two spaces
    officer.get_by_role("button", name="بحث").click()
    found = officer.locator("table tbody tr")
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text("محمد العتيبي")
    expect(found.first.get_by_role("link", name=str(by_whatsapp), exact=True)).to_be_visible()

    officer.locator("#q").fill("احمد عليّ صالح الحربى")  # hamza, shadda and ya forms differ
    officer.get_by_role("button", name="بحث").click()
    expect(found).to_have_count(1)
    expect(found.first).to_contain_text(reference)

    officer.locator("#q").fill("محمد")  # exact names only: a first name is not enough
    officer.get_by_role("button", name="بحث").click()
    expect(officer.locator("p.note[role=status]")).to_have_text("لا يوجد مستفيد مطابق.")


def test_a_complaint_is_claimed_from_the_inbox_and_given_to_a_colleague(
    gateway: LiveGateway, desk: BrowserContext
) -> None:
    chat = Chat(gateway.url).start()
    chat.say("مرحبا")
    chat.say("٤")
    chat.say("١")  # quality of service: beneficiary relations, the officer's domain
    chat.say("انتظرت في الفرع ثلاث ساعات دون أن يستقبلني أحد")
    filed, _question = chat.say("تخطي", 2)
    reference = re.search(r"C-\d+", filed)
    assert reference is not None
    ref = reference.group()

    officer = sign_in(desk, gateway, OFFICER)
    row = officer.locator(f'#inbox-rows tr[data-reference="{ref}"]')
    expect(row).to_contain_text("لم تُسند بعد")
    row.get_by_role("button", name="استلام").click()
    expect(officer).to_have_url(f"{gateway.url}/console/complaints/{ref}")
    expect(officer.locator("dd.assigned")).to_contain_text(OFFICER)
    officer.goto(f"{gateway.url}/console/?filter=mine")
    expect(officer.locator(f'#inbox-rows tr[data-reference="{ref}"]')).to_be_visible()

    # On the complaint's page it goes to the quality officer (a researcher is not offered).
    officer.goto(f"{gateway.url}/console/complaints/{ref}")
    options = officer.locator("#assign-complaint option")
    expect(options).to_have_count(3)  # nobody, the officer, the quality officer
    officer.locator("#assign-complaint").select_option(QUALITY)
    officer.locator("dd.assigned").get_by_role("button", name="إسناد").click()
    expect(officer.locator("dd.assigned")).to_contain_text(QUALITY)
    officer.goto(f"{gateway.url}/console/?filter=mine")
    expect(officer.locator(f'#inbox-rows tr[data-reference="{ref}"]')).to_have_count(0)
    with database(gateway.database_url) as db:
        stored = db.scalar(select(Complaint).where(Complaint.reference == ref))
        assert stored is not None and stored.assigned_to == QUALITY


def age_conversation(gateway: LiveGateway, conversation_id: int) -> None:
    """A day and more passes: every message of the conversation is older than the window."""
    db = Database(gateway.database_url)
    try:
        with db.sessions.begin() as session:
            session.execute(
                update(Message)
                .where(Message.conversation_id == conversation_id)
                .values(created_at=datetime.now(UTC) - timedelta(hours=25))
            )
    finally:
        db.close()


def test_past_the_window_closing_notices_go_as_approved_templates(
    gateway: LiveGateway, desk: BrowserContext, fake: FakeTwilio
) -> None:
    beneficiary = WhatsApp(gateway, fake, "أم خالد")
    for text in ("مرحبا", "٤", "١", "وصلت السلة الغذائية ناقصة هذا الشهر", "تخطي", "القائمة"):
        beneficiary.write(text)
    contact_id, conversation_id = contact_of_phone(gateway, beneficiary.phone)
    with database(gateway.database_url) as db:
        ref = db.scalar(select(Complaint.reference).where(Complaint.contact_id == contact_id))
        assert ref is not None
    beneficiary.write("٥")  # talk to staff
    eventually(lambda: _open_handoff(gateway, conversation_id), "the open hand-off", 20)
    # before the window closes
    eventually(lambda: _all_sent(gateway, conversation_id), "every reply sent", 20)
    age_conversation(gateway, conversation_id)
    fake.close_window(beneficiary.to)
    sent_before = len(fake.sent_to(beneficiary.to))

    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/conversations/{conversation_id}")
    expect(officer.locator(".window.closed")).to_be_visible()
    officer.locator(".handoff").get_by_role("button", name="إغلاق وإعادة المحادثة للمساعد").click()
    closing = fake.wait_sent(beneficiary.to, sent_before + 1)[-1]
    assert closing.form["ContentSid"] == "HX00000000000000000000000000000003"
    assert json.loads(closing.form["ContentVariables"]) == {"1": "جمعية البر النموذجية"}
    expect(officer.locator(".timeline .msg-out").last).to_contain_text("handoff_closed")

    officer.goto(f"{gateway.url}/console/complaints/{ref}")
    officer.locator("#response").fill("نعتذر، وسنكمل السلة هذا الأسبوع")
    officer.get_by_role("button", name="إغلاق وإبلاغ المستفيد").click()
    outcome = fake.wait_sent(beneficiary.to, sent_before + 2)[-1]
    assert outcome.form["ContentSid"] == "HX00000000000000000000000000000004"
    assert json.loads(outcome.form["ContentVariables"]) == {"1": ref}
    expect(officer.locator("dd.notice")).to_be_visible()
    # No free text went to be refused (Twilio's 63016) along the way.
    assert all("ContentSid" in sent.form for sent in fake.sent_to(beneficiary.to)[sent_before:])


def _all_sent(gateway: LiveGateway, conversation_id: int) -> bool:
    """Every reply of the conversation has left (none is queued or being sent)."""
    with database(gateway.database_url) as db:
        waiting = db.scalar(
            select(Message.id).where(
                Message.conversation_id == conversation_id,
                Message.direction == "out",
                Message.status.in_(("queued", "sending")),
            )
        )
        return waiting is None


def _open_handoff(gateway: LiveGateway, conversation_id: int) -> int | None:
    with database(gateway.database_url) as db:
        found: int | None = db.scalar(
            select(Handoff.id).where(
                Handoff.conversation_id == conversation_id, Handoff.status == "open"
            )
        )
        return found


def test_the_timeline_shows_the_journey_of_each_message(
    gateway: LiveGateway, desk: BrowserContext, fake: FakeTwilio
) -> None:
    beneficiary = WhatsApp(gateway, fake, "سعد")
    beneficiary.write("مرحبا")
    beneficiary.write("٤")  # into the complaint journey
    _contact_id, conversation_id = contact_of_phone(gateway, beneficiary.phone)
    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/conversations/{conversation_id}")
    entries = officer.locator(".timeline li.msg")
    expect(entries).to_have_count(4)
    journeys = [j.strip() for j in officer.locator(".timeline li.msg .journey").all_inner_texts()]
    # Hello and "4" came at the menu; the bot's answer to "4" is in the complaint journey.
    assert journeys == ["القائمة الرئيسية", "القائمة الرئيسية", "القائمة الرئيسية", "شكوى"]
    with database(gateway.database_url) as db:
        kept = db.scalars(
            select(Message.journey)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        ).all()
        assert kept == ["menu", "menu", "menu", "complaint"]
        assert db.get(Contact, _contact_id) is not None
