"""The manager's reports in a real browser (Chromium) against a live `tawasul serve` and
`tawasul worker`: a beneficiary asks the web chat what its FAQ cannot answer, older cases are
stored through the storage API; the manager sees the charts drawn in Arabic, right to left,
without a script; the period picker changes the figures; a table's CSV downloads with its
byte-order mark and its Arabic intact, and is in the audit log; an officer is refused."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import timedelta

import aiohttp
import pytest
from playwright.sync_api import Browser, BrowserContext, expect
from sqlalchemy import select

from bot.crypto import Cipher, use_cipher
from bot.db import Database
from bot.effects import FileComplaint, FileRequest, RecordUnanswered
from bot.models import utcnow
from bot.storage import Store
from bot.tables import AuditEntry
from tests.browser import browser_context, chromium
from tests.chat_client import ChatClient
from tests.conftest import ROOT, SECRET_KEY, LiveGateway, launch_gateway
from tests.staff import add_staff
from tests.test_console_work import sign_in
from tests.test_reports_storage import RIYADH, survey, turn

SCREENSHOTS = ROOT / "docs" / "screenshots"
TIMEOUT = 15_000
QUESTION = "هل توزعون حقائب مدرسية للأيتام؟"
OLD_QUESTION = "هل عندكم دورات حاسب للأمهات؟"
expect.set_options(timeout=TIMEOUT)


async def _seed(gateway: LiveGateway) -> None:
    # Today: a beneficiary on the web chat asks what the FAQ does not know.
    async with aiohttp.ClientSession() as http:
        chat = await ChatClient(http, gateway.url).start()
        await chat.say("مرحبا")
        await chat.say(QUESTION)
    # Earlier: cases the gateway stored through its storage, three and twenty days ago.
    use_cipher(Cipher(SECRET_KEY))
    db = Database(gateway.database_url)
    store = Store(db, Cipher(SECRET_KEY))
    now = utcnow()
    recent, old = now - timedelta(days=3), now - timedelta(days=20)
    filed = await turn(
        store,
        "+966500000002",
        "نعم",
        recent,
        [
            FileRequest(
                "R-400000001",
                "food_basket",
                "1000000008",
                {},
                "v1",
                recent,
                now + timedelta(days=9),
            ),
            FileComplaint(
                "C-400000001", "aid_delay", False, "تأخر", [], recent + timedelta(days=5)
            ),
        ],
        channel="whatsapp",
    )
    survey(store, filed.contact_id, 1, 5, recent)
    for n in range(3):
        await turn(
            store,
            f"old-{n}",
            OLD_QUESTION,
            old,
            [RecordUnanswered(OLD_QUESTION, "unknown", "ar")],
        )
    survey(store, filed.contact_id, 2, 1, old)
    db.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with launch_gateway(tmp_path_factory.mktemp("reports")) as live:
        for email, role in (("manager@example.org", "manager"), ("officer@example.org", "officer")):
            add_staff(live, email, "سارة", role)
        asyncio.run(_seed(live))
        yield live


@pytest.fixture(scope="module")
def browser(gateway: LiveGateway) -> Iterator[Browser]:
    """Started after the gateway is seeded: the seeding's event loop and Playwright's sync
    API cannot share the thread."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def desk(browser: Browser) -> Iterator[BrowserContext]:
    with browser_context(
        browser, TIMEOUT, {"width": 1280, "height": 900}, accept_downloads=True
    ) as context:
        yield context


def test_the_reports_draw_in_arabic_and_follow_the_period(
    gateway: LiveGateway, desk: BrowserContext
) -> None:
    page = sign_in(desk, gateway, "manager@example.org")
    page.get_by_role("navigation", name="أقسام لوحة العمل").get_by_role(
        "link", name="التقارير"
    ).click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("التقارير")
    assert page.locator("script").count() == 0  # drawn on the server, read without a script
    received = page.locator("#messages-in")
    expect(received.locator("figcaption")).to_have_text("الرسائل الواردة في كل يوم")
    expect(received.locator("svg > title")).to_have_text("الرسائل الواردة في كل يوم")
    assert page.locator("figure.chart svg").count() >= 8
    # Right to left: today's column is the leftmost (time runs from the right), and the
    # labels of the bars stand on their right.
    columns = received.locator("svg rect").evaluate_all("rs => rs.map(r => r.getBBox().x)")
    assert len(columns) >= 2 and columns[-1] == min(columns)
    status = page.locator("#requests-status svg")
    bar = status.locator("rect").first.bounding_box()
    label = status.locator("text").first.bounding_box()
    assert bar is not None and label is not None and label["x"] > bar["x"] + bar["width"]
    expect(page.locator("#requests-status")).to_contain_text("مستلَم، بانتظار لجنة البحث")
    # The last 30 days (the default): today's question once, nothing from 20 days ago yet.
    unanswered = page.locator("table[data-table=unanswered]")
    expect(unanswered).to_contain_text(QUESTION)
    expect(unanswered).to_contain_text(OLD_QUESTION)  # 20 days ago is within 30
    page.get_by_role("button", name="آخر 7 أيام").click()
    expect(page).to_have_url(f"{gateway.url}/console/reports?days=7")
    expect(unanswered).to_contain_text(QUESTION)
    expect(unanswered).not_to_contain_text(OLD_QUESTION)
    surveys = page.locator("table[data-table=satisfaction]")
    expect(surveys.locator("tbody tr").first).to_contain_text("5")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # The top of the page (the picker, messages, requests): the README's picture.
    top = {"x": 0, "y": 0, "width": 1280, "height": 1900}
    page.screenshot(path=str(SCREENSHOTS / "console-reports.png"), full_page=True, clip=top)

    # From and to: only the day of the old questions, asked three times.
    old_day = (utcnow() - timedelta(days=20)).astimezone(RIYADH).date().isoformat()
    page.locator("#r-from").fill(old_day)
    page.locator("#r-to").fill(old_day)
    page.get_by_role("button", name="عرض").click()
    expect(unanswered).to_contain_text(OLD_QUESTION)
    expect(unanswered).not_to_contain_text(QUESTION)
    expect(unanswered.locator("tbody tr").first.locator("td").nth(1)).to_have_text("3")
    expect(page.locator("#satisfaction-channel")).to_contain_text("1")

    # Its CSV: the same figures, UTF-8 with a byte-order mark, Arabic intact.
    section = page.locator("#unanswered")
    with page.expect_download() as download:
        section.get_by_role("link", name="تنزيل بصيغة CSV (إكسل)").click()
    path = download.value.path()
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:2] == ["السؤال", "عدد مرات السؤال"]
    assert rows[1][:2] == [OLD_QUESTION, "3"] and len(rows) == 2
    assert download.value.suggested_filename == f"tawasul-unanswered-{old_day}-{old_day}.csv"
    database = Database(gateway.database_url)
    with database.sessions() as session:
        exported = session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "report.exported")
        ).all()
    database.close()
    assert {"table": "unanswered", "from": old_day, "to": old_day} in exported


def test_bad_dates_get_a_clear_answer(gateway: LiveGateway, desk: BrowserContext) -> None:
    page = sign_in(desk, gateway, "manager@example.org")
    response = page.goto(f"{gateway.url}/console/reports?from=2026-12-10&to=2026-12-01")
    assert response is not None and response.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "يجب ألا يكون أول يوم في الفترة بعد آخر يوم فيها."
    )
    # Arabic-Indic digits are read as the digits they are.
    response = page.goto(f"{gateway.url}/console/reports?from=٢٠٢٦-١١-٠١&to=٢٠٢٦-١١-٣٠")
    assert response is not None and response.status == 200
    expect(page.locator("#r-from")).to_have_value("2026-11-01")


def test_an_officer_is_refused_the_reports(gateway: LiveGateway, desk: BrowserContext) -> None:
    page = sign_in(desk, gateway, "officer@example.org")
    expect(page.get_by_role("link", name="التقارير")).to_have_count(0)
    for path in ("/console/reports", "/console/reports/requests.csv?days=7"):
        response = page.goto(f"{gateway.url}{path}")
        assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("غير مسموح")
