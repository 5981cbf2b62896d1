"""The satisfaction survey end to end, in a real browser (Chromium) against a live `tawasul
serve` and `tawasul worker`: a beneficiary files a complaint on the web chat page, the
officer closes it in the console, the worker's sweep asks the survey (the profile's delay set
to none and the sweep to every second, so no test waits an hour), the beneficiary presses
«مقبول» (2) and writes a comment, and the quality officer finds the follow-up in the inbox
with the rating and the comment, and closes it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import DESK
from tests.conftest import PROFILE, LiveGateway, launch_gateway
from tests.staff import add_staff as _add_staff
from tests.test_console_work import sign_in

TIMEOUT = 15_000  # ms: replies go through the worker
SURVEY_TIMEOUT = 30_000  # ms: the survey, through the worker's sweep
OFFICER = "relations@example.org"  # the profile's officer for beneficiary relations
QUALITY = "quality@example.org"
COMMENT = "انتظرت شهرين ولم يتصل بي أحد"
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    directory = tmp_path_factory.mktemp("surveys")
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    data["survey"]["delay_minutes"] = 0
    profile = directory / "profile.yaml"
    profile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {"TAWASUL_PROFILE": str(profile), "TAWASUL_SWEEP_SECONDS": "1"}
    with launch_gateway(directory, env) as live:
        _add_staff(live, OFFICER, "هيفاء العمري", "officer")
        _add_staff(live, QUALITY, "سارة القحطاني", "quality")
        yield live


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def new_context(browser: Browser, made: list[BrowserContext]) -> BrowserContext:
    context = browser.new_context(viewport=DESK)
    context.set_default_timeout(TIMEOUT)
    made.append(context)
    return context


def write(chat: Page, text: str, then: str = "") -> None:
    """Type `text` and wait for the bot's next bubble (which says `then`)."""
    bubbles = chat.get_by_role("log").locator(".msg-bot")
    before = bubbles.count()
    box = chat.get_by_role("textbox")
    box.fill(text)
    box.press("Enter")
    expect(bubbles.nth(before)).to_contain_text(then)


def test_a_low_rating_after_a_closed_complaint_reaches_the_quality_officer(
    gateway: LiveGateway, browser: Browser, contexts: list[BrowserContext], tmp_path: Path
) -> None:
    chat = new_context(browser, contexts).new_page()
    chat.goto(f"{gateway.url}/chat")
    write(chat, "مرحبا", "اختر الخدمة")
    write(chat, "٤")
    write(chat, "١")
    write(chat, "تأخر تسليم السلة الغذائية شهرين كاملين دون أي تواصل")
    write(chat, "تخطي")
    filed = chat.get_by_role("log").locator(".msg-bot", has_text=re.compile(r"C-\d+"))
    expect(filed).to_have_count(1)
    reference = re.search(r"C-\d+", filed.inner_text())
    assert reference is not None
    ref = reference.group()

    officer = sign_in(new_context(browser, contexts), gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/complaints/{ref}")
    officer.locator("#response").fill("نعتذر عن التأخير، وقد سُلِّمت السلة اليوم")
    officer.get_by_role("button", name="إغلاق وإبلاغ المستفيد").click()
    expect(officer.locator("dd.status")).to_have_text("مغلق")

    # The worker asks: the question names the complaint, with a button for each rating.
    question = chat.get_by_role("log").locator(".msg-bot", has_text="كيف تقيّم الخدمة")
    expect(question).to_have_count(1, timeout=SURVEY_TIMEOUT)
    expect(question).to_contain_text(ref)
    for title in ("سيئ", "مقبول", "جيد", "جيد جدًا", "ممتاز"):
        expect(question.get_by_role("button", name=title, exact=True)).to_be_visible()
    bubbles = chat.get_by_role("log").locator(".msg-bot")
    before = bubbles.count()
    question.get_by_role("button", name="مقبول", exact=True).click()
    expect(bubbles.nth(before)).to_contain_text("نأسف لذلك")
    write(chat, COMMENT, "شكرًا لك على تقييمك")

    quality = sign_in(new_context(browser, contexts), gateway, QUALITY)
    expect(quality.get_by_role("heading", name="متابعة التقييمات المنخفضة")).to_be_visible()
    row = quality.locator("tr.item-follow-up")
    expect(row).to_have_count(1)
    expect(row.locator("td.rating")).to_have_text("2 من 5")
    expect(row.locator("td.comment")).to_have_text(COMMENT)
    expect(row).to_contain_text(ref)
    quality.screenshot(path=str(tmp_path / "follow-up.png"), full_page=True)
    row.get_by_role("button", name="إغلاق المتابعة").click()
    expect(quality.locator("tr.item-follow-up")).to_have_count(0)
    expect(quality.locator("table.follow-ups")).to_contain_text(
        "لا توجد تقييمات منخفضة تنتظر المتابعة"
    )

    # The officer of beneficiary relations does not see the quality officer's follow-ups.
    officer.goto(f"{gateway.url}/console/")
    expect(officer.get_by_role("heading", name="الوارد")).to_be_visible()
    expect(officer.locator("table.follow-ups")).to_have_count(0)
