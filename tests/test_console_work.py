"""The console's work pages in a real browser (Chromium) against a live `tawasul serve` and
`tawasul worker`, with Twilio's API faked: a beneficiary asks for staff, the officer of that
domain sees it in the inbox without reloading, claims it, replies, and the reply reaches the
beneficiary's channel (the web chat; WhatsApp through Twilio; a template once WhatsApp's
24-hour window has closed); a researcher accepts a request and the beneficiary is told in
Arabic; closing a hand-off tells the beneficiary and the bot answers again."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select, update

from bot.console.inbox import HANDOFF_CLOSED
from bot.console.requests_pages import STATUS_CHANGED
from bot.crypto import Cipher
from bot.db import Database
from bot.i18n import translator
from bot.tables import Complaint, Contact, Conversation, Handoff, Message, SupportRequest
from tests.browser import DESK_TIMEOUT
from tests.conftest import ROOT, LiveGateway, launch_gateway
from tests.fakes.server import running
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, new_sid, payload, sign
from tests.journeys import database, form_answers_ar, national_id
from tests.staff import PASSWORD, add_staff

TIMEOUT = DESK_TIMEOUT
OFFICER = "relations@example.org"  # the profile's officer for beneficiary relations
RESEARCHER = "research@example.org"
SMS_FROM, WHATSAPP_FROM = "+15005550006", "whatsapp:+14155238886"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AR = translator("ar")
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as server:
        yield server


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    """The gateway's settings for Twilio, pointed at the fake API."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_API_BASE": fake.url,
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, fake: FakeTwilio) -> Iterator[LiveGateway]:
    with launch_gateway(tmp_path_factory.mktemp("console-work"), twilio_env(fake)) as live:
        add_staff(live, OFFICER, "هيفاء العمري", "officer")
        add_staff(live, RESEARCHER, "عبدالله الشهري", "researcher")
        yield live


def sign_in(context: BrowserContext, gateway: LiveGateway, email: str) -> Page:
    page = context.new_page()
    page.goto(f"{gateway.url}/console/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="تسجيل الدخول").click()
    expect(page).to_have_url(f"{gateway.url}/console/")
    return page


# -- a beneficiary on the web chat, through its JSON API (what the page's script does) --------
@dataclass
class Chat:
    base: str
    session: str = ""
    cursor: str = "0-0"
    seen: list[dict[str, Any]] = field(default_factory=list)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def start(self) -> Chat:
        self.session = self._call("POST", "/chat/api/session")["session"]
        return self

    def write(self, text: str) -> None:
        self._call(
            "POST",
            "/chat/api/messages",
            {"session": self.session, "text": text, "client_id": new_sid("c")},
        )

    def replies(self, count: int = 1, within: float = 15.0) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + within
        while len(got) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"expected {count} replies, got {got}"
            query = urllib.parse.urlencode(
                {"session": self.session, "after": self.cursor, "wait": str(min(left, 5))}
            )
            data = self._call("GET", f"/chat/api/messages?{query}")
            got += [m["text"] for m in data["messages"]]
            self.cursor = data["cursor"]
        return got

    def say(self, text: str, count: int = 1) -> list[str]:
        self.write(text)
        return self.replies(count)

    def file_request(self, nid: str) -> str:
        """Fill in the support request form under national id `nid`, its optional step
        skipped, and submit it: the reference the receipt gives."""
        self.say("مرحبا")
        self.say("٢", 2)
        for answer in [*form_answers_ar(nid), "تخطي"]:
            self.say(answer)
        self.say("1")  # submit from the summary: the declaration
        receipt, _updates = self.say("أقر", 2)
        reference = re.search(r"R-\d+", receipt)
        assert reference is not None, receipt
        return reference.group()


def ask_for_staff(gateway: LiveGateway) -> Chat:
    chat = Chat(gateway.url).start()
    chat.say("مرحبا")
    (answer,) = chat.say("٥")  # "talk to staff" from the menu
    assert "علاقات المستفيدين والجودة" in answer  # the officer of the general domain
    return chat


def open_handoff_of(gateway: LiveGateway) -> Handoff:
    with database(gateway.database_url) as db:
        handoff = db.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None and handoff.status == "open"
        return handoff


# -- a beneficiary on WhatsApp through Twilio ---------------------------------------------------
def twilio_writes(gateway: LiveGateway, phone: str, text: str, name: str = "أبو محمد") -> None:
    sid = new_sid("SM")
    form = payload(
        "whatsapp_text",
        From="whatsapp:" + phone,
        WaId=phone[1:],
        ProfileName=name,
        ChannelMetadata=None,
        MessageSid=sid,
        SmsMessageSid=sid,
        SmsSid=sid,
        Body=text,
        AccountSid=ACCOUNT_SID,
    )
    url = gateway.url + "/webhooks/twilio"
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "X-Twilio-Signature": sign(url, form),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def whatsapp_handoff(gateway: LiveGateway, fake: FakeTwilio) -> tuple[str, Handoff]:
    """A new beneficiary greets on WhatsApp and asks for staff: their WhatsApp address and
    the hand-off open for them."""
    phone = new_phone()
    to = "whatsapp:" + phone
    twilio_writes(gateway, phone, "مرحبا")
    fake.wait_sent(to, 1)
    twilio_writes(gateway, phone, "٥")
    fake.wait_sent(to, 2)
    return to, open_handoff_of(gateway)


def new_phone() -> str:
    return "+9665" + str(time.time_ns())[-8:]


# -- the tests ----------------------------------------------------------------------------------
def test_web_chat_hand_off_is_seen_claimed_answered_and_closed(
    gateway: LiveGateway, desk: BrowserContext
) -> None:
    officer = sign_in(desk, gateway, OFFICER)
    rows = officer.locator("#inbox-rows tr.item-handoff")
    before = rows.count()
    chat = ask_for_staff(gateway)
    handoff = open_handoff_of(gateway)
    # It shows up in the open inbox, without a reload, under the officer's own domain.
    row = officer.locator(f'#inbox-rows tr[data-reference="H-{handoff.id}"]')
    expect(row).to_be_visible()
    assert rows.count() == before + 1
    expect(row).to_contain_text("علاقات المستفيدين والجودة")
    expect(row).to_contain_text("متبقٍّ")  # time left against the promise
    officer.screenshot(path=str(SCREENSHOTS / "console-inbox-ar.png"))

    row.get_by_role("button", name="استلام").click()
    expect(officer).to_have_url(re.compile(r"/console/conversations/\d+$"))
    expect(officer.locator(".handoff")).to_contain_text(OFFICER)
    expect(officer.locator(".timeline")).to_contain_text("مرحبا")

    officer.locator("#reply-text").fill("أهلًا بك، أنا هيفاء من علاقات المستفيدين. كيف أخدمك؟")
    officer.get_by_role("button", name="إرسال", exact=True).click()
    (reply,) = chat.replies(1)
    assert reply == "أهلًا بك، أنا هيفاء من علاقات المستفيدين. كيف أخدمك؟"
    expect(officer.locator(".timeline .msg-out").last).to_contain_text(OFFICER)

    # While staff hold it the bot stays quiet; the officer's note stays among staff.
    officer.locator("#note").fill("طلبت الأسرة موعدًا للزيارة")
    officer.get_by_role("button", name="إضافة الملاحظة").click()
    expect(officer.locator(".notes")).to_contain_text("طلبت الأسرة موعدًا للزيارة")
    officer.screenshot(path=str(SCREENSHOTS / "console-conversation-ar.png"), full_page=True)

    officer.locator(".handoff").get_by_role("button", name="إغلاق وإعادة المحادثة للمساعد").click()
    (told,) = chat.replies(1)
    assert told == AR.gettext(HANDOFF_CLOSED)
    assert told.startswith("أنهى زملاؤنا هذه المحادثة")  # in the beneficiary's Arabic
    with database(gateway.database_url) as db:
        closed = db.get(Handoff, handoff.id)
        assert closed is not None and closed.status == "closed" and closed.closed_by == OFFICER
    # The bot answers again (while staff held it, it said nothing).
    (menu,) = chat.say("القائمة")
    assert menu != told


def test_whatsapp_hand_off_reply_reaches_twilio(
    gateway: LiveGateway, desk: BrowserContext, fake: FakeTwilio
) -> None:
    to, handoff = whatsapp_handoff(gateway, fake)
    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/conversations/{handoff.conversation_id}")
    expect(officer.locator(".window.open")).to_be_visible()  # WhatsApp's window, time left
    officer.locator("#reply-text").fill("سنتواصل معك اليوم بإذن الله")
    officer.get_by_role("button", name="إرسال", exact=True).click()
    sent = fake.wait_sent(to, 3)
    assert sent[2].body == "سنتواصل معك اليوم بإذن الله"
    assert "ContentSid" not in sent[2].form
    # The timeline shows each reply's delivery status (the page shows it as of its loading).
    status = officer.locator(".timeline .msg-out").last.locator(".status")
    deadline = time.monotonic() + 15
    waiting = ("بانتظار الإرسال", "جارٍ الإرسال")  # queued, sending: the worker not done yet
    while status.inner_text().strip() in waiting and time.monotonic() < deadline:
        officer.reload()
    expect(status).to_have_text("أُرسلت")


def test_whatsapp_window_closed_offers_and_sends_a_template(
    gateway: LiveGateway, desk: BrowserContext, fake: FakeTwilio
) -> None:
    to, handoff = whatsapp_handoff(gateway, fake)
    # A day and more passes: the beneficiary's messages are older than WhatsApp's window.
    fake.close_window(to)
    db = Database(gateway.database_url)
    try:
        with db.sessions.begin() as session:
            session.execute(
                update(Message)
                .where(Message.conversation_id == handoff.conversation_id)
                .values(created_at=datetime.now(UTC) - timedelta(hours=25))
            )
    finally:
        db.close()
    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/conversations/{handoff.conversation_id}")
    expect(officer.locator(".window.closed")).to_be_visible()
    expect(officer.locator("#reply-text")).to_have_count(0)  # no free text to fail later
    # Nor through a hand-made post: the server refuses free text past the window.
    token = officer.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = officer.request.post(
        f"{gateway.url}/console/conversations/{handoff.conversation_id}/reply",
        form={"text": "نص حر", "csrf_token": token or ""},
    )
    assert refused.status == 400
    assert "انقضت نافذة واتساب" in refused.text()
    officer.locator("#template").select_option("reply_waiting")
    officer.get_by_role("button", name="إرسال", exact=True).click()
    sent = fake.wait_sent(to, 3)
    assert sent[2].form["ContentSid"] == "HX00000000000000000000000000000000"


def test_researcher_accepts_a_request_and_the_beneficiary_is_told_in_arabic(
    gateway: LiveGateway, desk: BrowserContext, cipher: Cipher
) -> None:
    chat = Chat(gateway.url).start()
    nid = national_id(7707)
    ref = chat.file_request(nid)

    researcher = sign_in(desk, gateway, RESEARCHER)
    researcher.goto(f"{gateway.url}/console/requests")
    researcher.get_by_role("link", name=ref).click()
    expect(researcher.locator(".answers")).to_contain_text(nid)  # the researcher sees them
    researcher.locator("#status").select_option("under_review")
    researcher.get_by_role("button", name="حفظ وإبلاغ المستفيد").click()
    (studied,) = chat.replies(1)
    assert studied == AR.gettext(STATUS_CHANGED).format(
        reference=ref, status="قيد الدراسة لدى لجنة البحث"
    )
    researcher.locator("#status").select_option("accepted")
    researcher.locator("#decided_on").fill("2026-12-01")
    researcher.locator("#note").fill("قررت اللجنة صرف مساعدة الإيجار لثلاثة أشهر")
    researcher.get_by_role("button", name="حفظ وإبلاغ المستفيد").click()
    (accepted,) = chat.replies(1)
    assert accepted == AR.gettext(STATUS_CHANGED).format(reference=ref, status="مقبول")
    assert accepted.startswith("مستجدات")
    expect(researcher.locator("dd.status")).to_have_text("مقبول")
    expect(researcher.locator(".history")).to_contain_text("قررت اللجنة")
    researcher.screenshot(path=str(SCREENSHOTS / "console-request-ar.png"), full_page=True)
    with database(gateway.database_url) as db:
        stored = db.scalar(select(SupportRequest).where(SupportRequest.reference == ref))
        assert stored is not None and stored.status == "accepted"
    # The bot's status lookup reads the same history.
    chat.say("القائمة")
    chat.say("٣")
    (status,) = chat.say(ref)
    assert "مقبول" in status and "قيد الدراسة لدى لجنة البحث" in status


def test_a_complaint_closed_with_compensation_is_told_to_the_beneficiary(
    gateway: LiveGateway, desk: BrowserContext, cipher: Cipher
) -> None:
    chat = Chat(gateway.url).start()
    chat.say("مرحبا")
    chat.say("٤")
    chat.say("١")  # quality of service
    chat.say("تأخر تسليم السلة الغذائية شهرين كاملين دون أي تواصل")
    filed, _question = chat.say("تخطي", 2)
    reference = re.search(r"C-\d+", filed)
    assert reference is not None
    ref = reference.group()

    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/complaints")
    officer.get_by_role("link", name=ref).click()
    expect(officer.locator(".card").first).to_contain_text("تأخر تسليم السلة الغذائية")
    officer.get_by_role("button", name="إغلاق وإبلاغ المستفيد").click()  # no response yet
    expect(officer.locator(".error")).to_contain_text("اكتب الرد على المستفيد")
    officer.locator("#response").fill("نعتذر عن التأخير، وقد سُلِّمت السلة اليوم")
    officer.locator("#resolution").fill("خلل في جدول التوزيع عولج")
    officer.locator("input[name=breach]").check()
    officer.locator("input[name=direct]").check()
    officer.locator("#proof").select_option("admission")
    officer.locator("#outcome").fill("سلة إضافية في الشهر القادم")
    officer.get_by_role("button", name="إغلاق وإبلاغ المستفيد").click()
    (told,) = chat.replies(1)
    assert told == (
        f"عولجت شكواك رقم {ref}. ردّنا: نعتذر عن التأخير، وقد سُلِّمت السلة اليوم\n"
        "التعويض المتفق عليه: سلة إضافية في الشهر القادم"
    )
    expect(officer.locator("dd.status")).to_have_text("مغلق")
    with database(gateway.database_url) as db:
        stored = db.scalar(select(Complaint).where(Complaint.reference == ref))
        assert stored is not None and stored.status == "closed"
        assert stored.compensation == {
            "breach": True,
            "direct": True,
            "proof": "admission",
            "outcome": "سلة إضافية في الشهر القادم",
            "due": True,
        }


def test_a_contact_is_found_merged_exported_and_erased(
    gateway: LiveGateway, desk: BrowserContext, cipher: Cipher
) -> None:
    first = Chat(gateway.url).start()
    first.say("مرحبا")
    first.say("٤")
    first.say("١")
    first.say("لم يرد أحد على اتصالي بالفرع طوال الأسبوع الماضي")
    filed, _question = first.say("تخطي", 2)
    reference = re.search(r"C-\d+", filed)
    assert reference is not None
    second = Chat(gateway.url).start()
    second.say("السلام عليكم")
    with database(gateway.database_url) as db:
        complaint = db.scalar(select(Complaint).where(Complaint.reference == reference.group()))
        assert complaint is not None
        kept = complaint.contact_id
        gone = db.scalar(select(Contact.id).order_by(Contact.id.desc()))
        assert gone is not None and gone != kept

    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/contacts")
    officer.locator("#q").fill(reference.group().lower().replace("-", " "))  # as typed loosely
    officer.get_by_role("button", name="بحث").click()
    officer.get_by_role("link", name=str(kept), exact=True).click()
    expect(officer.locator("h1")).to_contain_text(f"المستفيد {kept}")
    officer.locator("#other").fill(str(gone))
    officer.get_by_role("button", name="دمج").click()
    expect(officer.locator(".error")).to_have_count(0)

    exported = officer.request.get(f"{gateway.url}/console/contacts/{kept}/export")
    assert exported.status == 200
    assert "attachment" in exported.headers["content-disposition"]
    data = exported.json()
    texts = [m["text"] for m in data["messages"] if m["direction"] == "in"]
    assert "مرحبا" in texts and "السلام عليكم" in texts  # both contacts' history joined
    assert [c["reference"] for c in data["complaints"]] == [reference.group()]

    officer.locator("#confirm").fill("ERASE")
    officer.get_by_role("button", name="حذف البيانات الشخصية").click()
    with database(gateway.database_url) as db:
        assert db.get(Contact, gone) is None
        contact = db.get(Contact, kept)
        assert contact is not None and contact.display_name is None
        complaints = db.scalars(select(Complaint).where(Complaint.contact_id == kept)).all()
        assert [(c.reference, c.description) for c in complaints] == [(reference.group(), "—")]
        bodies = db.scalars(
            select(Message.body).where(Message.conversation_id == _conversation(db, kept))
        ).all()
        assert bodies and set(bodies) == {None}


def _conversation(db: Any, contact_id: int) -> int:
    conversation = db.scalar(select(Conversation.id).where(Conversation.contact_id == contact_id))
    assert conversation is not None
    return int(conversation)


def test_screenshots_are_png(gateway: LiveGateway) -> None:
    for name in ("console-inbox-ar", "console-conversation-ar", "console-request-ar"):
        path: Path = SCREENSHOTS / f"{name}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
