"""Broadcasts in the console (issue 15), in Chromium against a real `tawasul serve` and
`tawasul worker` with Twilio (SMS), WhatsApp Cloud (Meta) and Telegram on, each answered by
its fake provider: a manager composes an update, watches the count of recipients and the SMS
preview follow the form, confirms, and the providers receive it; the list shows it sent; a
scheduled one is cancelled and its start, run at once from rq's scheduled registry, sends
nothing; an officer is refused; a POST without its CSRF token is refused; bad input is told
in Arabic. The page's picture goes to docs/screenshots/console-broadcasts.png (SCREENSHOTS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.crypto import Cipher
from bot.db import make_engine
from bot.send_budget import sms_segments
from bot.tables import (
    AuditEntry,
    Broadcast,
)
from tests.browser import browser_context
from tests.conftest import REDIS_URL, LiveGateway, launch_gateway
from tests.fakes import twilio as tw
from tests.fakes.server import running
from tests.fakes.telegram import FakeBotAPI
from tests.fakes.twilio import FakeTwilio
from tests.fakes.whatsapp import FakeGraphAPI, message_text, recipient_of
from tests.fixtures import whatsapp as wa
from tests.staff import add_staff as _add_staff
from tests.test_broadcast import seed
from tests.test_console_browser import SCREENSHOTS, sign_in
from tests.waiting import eventually
from worker.queues import bulk_queue, make_queue

TELEGRAM_TOKEN = "123:BROADCAST"
CHAT_ID = 7100042
SMS_FROM = "+12025550143"
TIMEOUT = 30_000  # the worker sends on a loaded machine
TEXT_AR = "توزيع السلال الغذائية يوم الخميس القادم في مقر الجمعية من التاسعة صباحًا"
TEXT_EN = "Food baskets on Thursday at the association, from 9 am"
OPT_OUT_AR = "لإيقاف هذه التحديثات، أرسل كلمة «إيقاف»."
OPT_OUT_EN = "To stop receiving these updates, reply STOP."
RIYADH = ZoneInfo("Asia/Riyadh")
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as fake:
        yield fake


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
    tmp_path_factory: pytest.TempPathFactory,
    twilio: FakeTwilio,
    graph: FakeGraphAPI,
    bot_api: FakeBotAPI,
) -> Iterator[LiveGateway]:
    env = {
        "TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": tw.AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_API_BASE": twilio.url,
        **wa.gateway_env(graph.url),
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_SECRET_TOKEN": "tawasul-broadcasts-secret",
        "TELEGRAM_API_BASE": bot_api.url + "/bot",
        "TAWASUL_RATE_LIMITS": "off",
    }
    with launch_gateway(tmp_path_factory.mktemp("broadcasts"), env) as live:
        _add_staff(live, "manager@example.org", "Maha", "manager")
        _add_staff(live, "officer@example.org", "Omar", "officer")
        yield live


@pytest.fixture(scope="module")
def audience(gateway: LiveGateway, cipher: Cipher) -> dict[str, list[str]]:
    """Six consenting contacts (three by SMS, two on WhatsApp, one on Telegram) and two
    who must get nothing (never asked; agreed, then withdrew)."""
    url = gateway.database_url
    on = {"kind": "whatsapp", "channel": "whatsapp"}
    return {
        "sms_ar": seed(url, cipher, [True, True]),
        "sms_en": seed(url, cipher, [True], language="en"),
        "whatsapp": seed(url, cipher, [True], **on),
        # Last wrote two days ago: WhatsApp's window is closed, the template goes.
        "whatsapp_late": seed(url, cipher, [True], wrote_ago=timedelta(days=2), **on),
        "telegram_en": seed(
            url, cipher, [True], "en", kind="telegram", channel="telegram", new_address=chat_id
        ),
        "never": seed(url, cipher, [None]),
        "withdrew": seed(url, cipher, [False]),  # agreed, then withdrew
    }


def chat_id() -> str:
    return str(CHAT_ID)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    with browser_context(browser, TIMEOUT, {"width": 1400, "height": 1100}) as context:
        yield context


def open_broadcasts(page: Page, gateway: LiveGateway, email: str = "manager@example.org") -> None:
    sign_in(page, gateway, email)
    expect(page).to_have_url(f"{gateway.url}/console/")
    page.goto(f"{gateway.url}/console/broadcasts")
    expect(page.get_by_role("heading", level=1)).to_have_text("الرسائل الجماعية")


def broadcasts(gateway: LiveGateway) -> list[Broadcast]:
    engine = make_engine(gateway.database_url)
    try:
        with Session(engine) as session:
            found = list(session.scalars(select(Broadcast).order_by(Broadcast.id)))
            session.expunge_all()
            return found
    finally:
        engine.dispose()


def audited(gateway: LiveGateway, action: str) -> list[AuditEntry]:
    engine = make_engine(gateway.database_url)
    try:
        with Session(engine) as session:
            found = list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))
            session.expunge_all()
            return found
    finally:
        engine.dispose()


def riyadh_input(moment: datetime) -> str:
    return moment.astimezone(RIYADH).strftime("%Y-%m-%dT%H:%M")


def test_a_manager_composes_counts_previews_and_sends_a_broadcast(
    gateway: LiveGateway,
    audience: dict[str, list[str]],
    page: Page,
    twilio: FakeTwilio,
    graph: FakeGraphAPI,
    bot_api: FakeBotAPI,
) -> None:
    open_broadcasts(page, gateway)
    count_box = page.locator("#count .count")
    # Twilio has no WhatsApp sender here: only Meta's WhatsApp is named.
    expect(page.locator(".templates [data-provider]")).to_have_count(1)
    # Only the six consenting, not stopped contacts are counted.
    expect(count_box).to_have_attribute("data-total", "6")
    expect(count_box).to_contain_text("6 مستلمين")
    expect(count_box).to_contain_text("الرسائل النصية وواتساب (Twilio): 3")
    expect(count_box).to_contain_text("واتساب (Meta): 2")

    page.get_by_label("نص الرسالة بالعربية").fill(TEXT_AR)
    page.get_by_label("نص الرسالة بالإنجليزية").fill(TEXT_EN)
    # The preview follows the text (the script asks the count route): Arabic is UCS-2.
    arabic = page.get_by_role("region", name="المعاينة بالعربية")
    english = page.get_by_role("region", name="المعاينة بالإنجليزية")
    expect(arabic.locator(".whatsapp .bubble")).to_have_text(f"{TEXT_AR}\n\n{OPT_OUT_AR}")
    ar_segments = sms_segments(f"{TEXT_AR}\n\n{OPT_OUT_AR}")
    assert ar_segments == 2
    expect(arabic.locator(".segments")).to_have_attribute("data-segments", str(ar_segments))
    expect(arabic.locator(".segments")).to_contain_text("جزآن")
    expect(arabic.locator(".segments")).to_contain_text("70")
    expect(english.locator(".sms .bubble")).to_have_text(f"{TEXT_EN}\n\n{OPT_OUT_EN}")
    expect(english.locator(".segments")).to_contain_text("جزء واحد")
    expect(english.locator(".segments")).to_contain_text("GSM-7")
    # The template used outside WhatsApp's 24-hour window, from the profile.
    expect(page.locator(".templates [data-provider=whatsapp]")).to_contain_text(
        "association_update"
    )
    # The live count follows the audience: English speakers are one by SMS, one on Telegram.
    page.get_by_label("اللغة").select_option("en")
    expect(count_box).to_have_attribute("data-total", "2")
    expect(count_box).to_contain_text("مستلمان")
    page.get_by_label("اللغة").select_option("")
    expect(count_box).to_have_attribute("data-total", "6")
    before = len(broadcasts(gateway))
    page.get_by_role("button", name="المراجعة قبل الإرسال").click()
    confirm = page.get_by_role("region", name="تأكيد الرسالة الجماعية")
    expect(confirm).to_contain_text("6 مستلمين")
    expect(confirm).to_contain_text("ستُرسل فور تأكيدك")
    assert len(broadcasts(gateway)) == before  # nothing before the confirmation
    fields = confirm.locator("form").evaluate("f => Object.fromEntries(new FormData(f).entries())")
    confirm.get_by_role("button", name="تأكيد وإرسال").click()
    expect(page.get_by_role("status")).to_contain_text("أُنشئت الرسالة الجماعية")

    # The providers receive it, each contact once, in their language.
    for to in audience["sms_ar"]:
        assert [s.body for s in twilio.wait_sent(to, 1, 60)] == [f"{TEXT_AR}\n\n{OPT_OUT_AR}"]
    for to in audience["sms_en"]:
        assert [s.body for s in twilio.wait_sent(to, 1, 60)] == [f"{TEXT_EN}\n\n{OPT_OUT_EN}"]
    sent = bot_api.wait_calls("sendMessage", 1, 60, chat_id=CHAT_ID)
    assert [c["text"] for c in sent] == [f"{TEXT_EN}\n\n{OPT_OUT_EN}"]
    eventually(lambda: len(graph.accepted) >= 2, "two messages at Meta", 60)
    by_phone = {to: message_text(body) for to, _wamid, body in graph.accepted}
    assert by_phone[audience["whatsapp"][0].lstrip("+")] == f"{TEXT_AR}\n\n{OPT_OUT_AR}"
    late = [b for b in graph.sends() if recipient_of(b.json) == audience["whatsapp_late"][0][1:]]
    assert [message_text(r.json) for r in late] == ["[template association_update]"]
    for to in audience["never"] + audience["withdrew"]:
        assert not twilio.sent_to(to)

    # The list shows its progress, refreshed by itself: six sent, nothing waiting.
    created = broadcasts(gateway)[-1]
    row = page.locator(f"#broadcast-{created.id}")
    expect(row.locator("td.sent")).to_have_text("6")
    expect(row.locator("td.queued")).to_have_text("0")
    expect(row.locator("td.status")).to_contain_text("اكتملت")
    created = broadcasts(gateway)[-1]
    assert created.created_by == "manager@example.org" and created.status == "done"
    entry = audited(gateway, "broadcast.created")[-1]
    assert entry.actor == "manager@example.org" and entry.details["recipients"] == 6

    # The page's picture: a new update being composed, above the finished one.
    page.goto(f"{gateway.url}/console/broadcasts")
    page.get_by_label("نص الرسالة بالعربية").fill(TEXT_AR)
    page.get_by_label("نص الرسالة بالإنجليزية").fill(TEXT_EN)
    expect(page.locator(".segments").first).to_contain_text("جزآن")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-broadcasts.png"), full_page=True)
    assert (SCREENSHOTS / "console-broadcasts.png").stat().st_size > 10_000

    # The same confirm step sent again (a double click, a resent form) creates nothing more.
    again = page.request.post(
        f"{gateway.url}/console/broadcasts", form={**fields, "action": "send"}
    )
    assert again.ok and len(broadcasts(gateway)) == before + 1


def test_a_scheduled_broadcast_is_cancelled_and_sends_nothing(
    gateway: LiveGateway, audience: dict[str, list[str]], page: Page, twilio: FakeTwilio
) -> None:
    open_broadcasts(page, gateway)
    page.get_by_label("نص الرسالة بالعربية").fill("موعد توزيع كسوة العيد")
    page.get_by_label("نص الرسالة بالإنجليزية").fill("Eid clothes distribution")
    page.get_by_label("في تاريخ ووقت محددين").check()
    due = datetime.now(UTC) + timedelta(hours=2)
    page.get_by_label("التاريخ والوقت بتوقيت الجمعية").fill(riyadh_input(due))
    page.get_by_role("button", name="المراجعة قبل الإرسال").click()
    confirm = page.get_by_role("region", name="تأكيد الرسالة الجماعية")
    expect(confirm).to_contain_text("ستُرسل في")
    confirm.get_by_role("button", name="تأكيد وإرسال").click()
    expect(page.get_by_role("status")).to_contain_text("أُنشئت الرسالة الجماعية")
    scheduled = broadcasts(gateway)[-1]
    assert scheduled.status == "scheduled" and scheduled.scheduled_at is not None
    assert abs(scheduled.scheduled_at.replace(tzinfo=UTC) - due) < timedelta(minutes=1)
    row = page.locator(f"#broadcast-{scheduled.id}")
    expect(row.locator("td.status")).to_contain_text("مجدولة")

    row.get_by_role("button", name="إلغاء").click()
    expect(page.get_by_role("status")).to_contain_text("أُلغيت الرسالة الجماعية")
    expect(page.locator(f"#broadcast-{scheduled.id} td.status")).to_contain_text("أُلغيت")
    expect(page.locator(f"#broadcast-{scheduled.id}").get_by_role("button")).to_have_count(0)
    assert audited(gateway, "broadcast.cancelled")[-1].subject_id == scheduled.id

    # Its time comes now (the start job taken from rq's scheduled registry): nothing goes.
    queue = bulk_queue(make_queue(REDIS_URL, gateway.env["TAWASUL_QUEUE"]))
    registry = ScheduledJobRegistry(queue=queue)
    starts = [
        Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
        for job_id in registry.get_job_ids()
    ]
    start = next(job for job in starts if job.args == [scheduled.id])
    registry.remove(start)
    queue.enqueue_job(start)
    eventually(lambda: start.get_status(refresh=True) == "finished", "the start job", 60)
    assert start.return_value() == "cancelled before its time"
    for to in audience["sms_ar"]:
        assert all("كسوة" not in s.body for s in twilio.sent_to(to))


def test_an_officer_is_refused_the_page_and_its_routes(gateway: LiveGateway, page: Page) -> None:
    sign_in(page, gateway, "officer@example.org")
    expect(page).to_have_url(f"{gateway.url}/console/")
    response = page.goto(f"{gateway.url}/console/broadcasts")
    assert response is not None and response.status == 403
    expect(page.get_by_role("main")).to_contain_text("دورك في النظام لا يتيح لك")
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    counted = page.request.post(
        f"{gateway.url}/console/broadcasts/count",
        form={"text_ar": "x", "text_en": "y"},
        headers={"X-CSRF-Token": token},
    )
    assert counted.status == 403
    assert page.request.get(f"{gateway.url}/console/broadcasts/progress").status == 403


def test_a_post_without_its_csrf_token_is_refused(gateway: LiveGateway, page: Page) -> None:
    open_broadcasts(page, gateway)
    before = len(broadcasts(gateway))
    form = page.locator("#compose")
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    page.get_by_label("نص الرسالة بالعربية").fill("رسالة")
    page.get_by_label("نص الرسالة بالإنجليزية").fill("A message")
    with page.expect_response(f"{gateway.url}/console/broadcasts") as posted:
        page.get_by_role("button", name="المراجعة قبل الإرسال").click()
    assert posted.value.status == 403
    expect(page.get_by_role("main")).to_contain_text("انتهت صلاحية هذا النموذج")
    # The count route too, without its header.
    counted = page.request.post(
        f"{gateway.url}/console/broadcasts/count", form={"text_ar": "x", "text_en": "y"}
    )
    assert counted.status == 403
    sent = page.request.post(
        f"{gateway.url}/console/broadcasts",
        form={"text_ar": "x", "text_en": "y", "action": "send", "confirm": "abc"},
    )
    assert sent.status == 403
    assert len(broadcasts(gateway)) == before


def test_bad_input_is_told_in_arabic(gateway: LiveGateway, page: Page) -> None:
    open_broadcasts(page, gateway)
    before = len(broadcasts(gateway))
    with page.expect_response(f"{gateway.url}/console/broadcasts") as posted:
        page.get_by_role("button", name="المراجعة قبل الإرسال").click()
    assert posted.value.status == 400
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("اكتب نص الرسالة بالعربية")
    expect(alert).to_contain_text("اكتب نص الرسالة بالإنجليزية")

    page.get_by_label("نص الرسالة بالعربية").fill("رسالة متأخرة")
    page.get_by_label("نص الرسالة بالإنجليزية").fill("A late message")
    page.get_by_label("في تاريخ ووقت محددين").check()
    page.get_by_label("التاريخ والوقت بتوقيت الجمعية").fill("2020-01-01T09:00")
    with page.expect_response(f"{gateway.url}/console/broadcasts") as posted:
        page.get_by_role("button", name="المراجعة قبل الإرسال").click()
    assert posted.value.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "الوقت الذي اخترته قد مضى. يُرجى اختيار وقت لاحق، أو الإرسال الآن."
    )
    # What was typed is kept, to be corrected.
    expect(page.get_by_label("نص الرسالة بالعربية")).to_have_value("رسالة متأخرة")

    # A time typed in Arabic-Indic digits is read.
    token = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    later = riyadh_input(datetime.now(UTC) + timedelta(days=3)).translate(
        str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    )
    reviewed = page.request.post(
        f"{gateway.url}/console/broadcasts",
        form={"text_ar": "x", "text_en": "y", "when": "later", "at": later, "action": "review"},
        headers={"X-CSRF-Token": token},
    )
    assert reviewed.status == 200 and "ستُرسل في" in reviewed.text()
    garbled = page.request.post(
        f"{gateway.url}/console/broadcasts",
        form={"text_ar": "x", "text_en": "y", "when": "later", "at": "غدًا", "action": "review"},
        headers={"X-CSRF-Token": token},
    )
    assert garbled.status == 400 and "تعذّرت قراءة التاريخ والوقت" in garbled.text()
    assert len(broadcasts(gateway)) == before


def test_without_javascript_the_count_button_counts(
    gateway: LiveGateway, audience: dict[str, list[str]], browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT)
    try:
        page = context.new_page()
        open_broadcasts(page, gateway)
        page.get_by_label("نص الرسالة بالعربية").fill("تحديث")
        page.get_by_label("اللغة").select_option("en")
        page.get_by_role("button", name="احسب المستلمين واعرض المعاينة").click()
        expect(page.locator("#count .count")).to_have_attribute("data-total", "2")
        expect(page.get_by_label("اللغة")).to_have_value("en")
        arabic = page.get_by_role("region", name="المعاينة بالعربية")
        expect(arabic.locator(".sms .bubble")).to_have_text(f"تحديث\n\n{OPT_OUT_AR}")
    finally:
        context.close()
