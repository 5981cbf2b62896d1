"""A late request, end to end, in a real browser (Chromium) against a live `tawasul serve`
and `tawasul worker` (its SLA watch every second, digests after two seconds, email through
a real SMTP server): the researcher sees the deadline on time, then paused while the
committee waits for papers; near its deadline they are reminded by email; past it the
manager is told, the beneficiary is told in Arabic in their web chat with the new date in
Hijri and Gregorian, and the request page says all of it. Time is moved in the stored
deadline, never slept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import update

from bot.i18n import translator
from bot.tables import SupportRequest
from tests.conftest import LiveGateway, launch_gateway
from tests.fakes.server import running
from tests.fakes.smtp import FakeSmtpServer
from tests.journeys import database, national_id
from tests.staff import add_staff
from tests.test_console_work import Chat, sign_in
from tests.test_sla_processes import sla_env

RESEARCHER, MANAGER = "research@example.org", "director@example.org"
AR = translator("ar")
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def smtp() -> Iterator[FakeSmtpServer]:
    with running(FakeSmtpServer()) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, smtp: FakeSmtpServer
) -> Iterator[LiveGateway]:
    directory = tmp_path_factory.mktemp("sla-browser")
    env = sla_env(directory, smtp.port)
    with launch_gateway(directory, env) as live:
        add_staff(live, RESEARCHER, "عبدالله الشهري", "researcher")
        yield live


def set_due(gateway: LiveGateway, reference: str, due: datetime) -> None:
    with database(gateway.database_url) as db:
        db.execute(
            update(SupportRequest)
            .where(SupportRequest.reference == reference)
            .values(decision_due=due)
        )
        db.commit()


def change_status(page: Page, status: str) -> None:
    page.locator("#status").select_option(status)
    page.get_by_role("button", name="حفظ وإبلاغ المستفيد").click()


def test_a_late_request_reminds_its_researcher_and_tells_the_beneficiary(
    gateway: LiveGateway, desk: BrowserContext, smtp: FakeSmtpServer
) -> None:
    chat = Chat(gateway.url).start()
    reference = chat.file_request(national_id(8808))

    page = sign_in(desk, gateway, RESEARCHER)
    page.goto(f"{gateway.url}/console/requests/{reference}")
    expect(page.locator("dd.sla-state")).to_have_text("ضمن المهلة")
    change_status(page, "under_review")
    chat.replies(1)
    page.locator("#note").fill("نحتاج إلى صورة عقد الإيجار")
    change_status(page, "needs_info")
    chat.replies(1)
    expect(page.locator("dd.sla-state")).to_have_text("متوقف: بانتظار المستفيد")
    page.goto(f"{gateway.url}/console/")  # the inbox says so too, and not "overdue"
    row = page.locator(f'tr[data-reference="{reference}"]')
    expect(row).to_contain_text("متوقف: بانتظار المستفيد")
    page.goto(f"{gateway.url}/console/requests/{reference}")
    change_status(page, "under_review")
    chat.replies(1)

    # A day and a half before the deadline: the researcher is reminded, by email.
    set_due(gateway, reference, datetime.now(UTC) + timedelta(hours=36))
    (reminder,) = smtp.wait_for(RESEARCHER, timeout=60)
    assert reference in reminder.text and "تذكير" in reminder.text
    assert f"{gateway.env['TAWASUL_PUBLIC_URL']}/console/requests/{reference}" in reminder.text

    # Past it: the manager hears of it, and the beneficiary is told in their chat.
    set_due(gateway, reference, datetime.now(UTC) - timedelta(hours=1))
    (late,) = chat.replies(1, within=60)
    assert late.startswith("نعتذر إليك") and reference in late and "هـ" in late
    (escalated,) = smtp.wait_for(MANAGER, timeout=60)
    assert reference in escalated.text and "تجاوز المهلة" in escalated.text

    page.reload()
    state = page.locator("dd.sla-state")
    for part in ("متأخر", "أُرسل التذكير", "رُفع إلى المدير", "أُبلغ المستفيد بالتأخير"):
        expect(state).to_contain_text(part)
    assert page.locator("html").get_attribute("dir") == "rtl"
    # Nothing is said twice, however many more rounds the watch makes.
    chat.write("شكرا")
    chat.replies(1)
    assert len(smtp.to(RESEARCHER)) == 1 and len(smtp.to(MANAGER)) == 1
