"""The FAQ learns from staff, end to end: a real `tawasul serve` with two web processes and a
worker, Chromium for the web chat and the console. Beneficiaries ask a question the FAQ does
not answer (twice, in other spellings), an officer sees it with its count on
/console/questions and attaches it to an entry; an English question gets a new entry in both
languages; from the next message on every web process answers them, without a restart, and
the profile file is untouched. A researcher is refused the page; a form without its CSRF
token is refused."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from bot.profile_loader import load_profile
from tests.conftest import PROFILE, REDIS_URL
from tests.processes import Gateway
from tests.staff import add_staff as _add_staff
from tests.test_console_browser import SCREENSHOTS
from tests.test_console_browser import sign_in as signed_in

TIMEOUT = 20_000  # ms: two web processes and a worker on a loaded machine
CLOTHES = "هل توزعون ملابس العيد؟"
CLOTHES_AGAIN = "هَل توزعون  ملابس العيد"
PETROL = "كم سعر البنزين"
SWIMMING = "Do you offer swimming lessons for kids?"
SWIMMING_AR = "هل لديكم دروس سباحة للأطفال؟"
SWIM_ANSWER_EN = "We do not offer swimming lessons at the moment; we can point you to nearby clubs."
SWIM_ANSWER_AR = "لا نقدم دروس السباحة حاليًا، ويسعدنا إرشادكم إلى الأندية القريبة."
GREETING_AR, GREETING_EN = "أهلًا بك", "Welcome"
NOT_UNDERSTOOD_AR = "عذرًا، لم أفهم رسالتك."
NOT_UNDERSTOOD_EN = "Sorry, I did not understand your message."
REBUILT = re.compile(r"FAQ of process (\d+) at version (\S+): (\d+) staff additions")
expect.set_options(timeout=TIMEOUT)
PROFILE_DATA = load_profile(PROFILE)
SERVICES = PROFILE_DATA.get_faq_entry("services-list")
assert SERVICES is not None


class Chat:
    """A web-chat visitor through the API, each request on a new connection (so the kernel
    spreads them over the web processes)."""

    def __init__(self, url: str) -> None:
        self.url = url
        response = requests.post(f"{url}/chat/api/session", timeout=10)
        assert response.status_code == 201
        self.session, self.cursor = response.json()["session"], "0-0"

    def say(self, text: str, until: str) -> str:
        """Send `text`; return the replies once one contains `until`."""
        body = {"session": self.session, "text": text, "client_id": f"{time.monotonic_ns()}"}
        posted = requests.post(f"{self.url}/chat/api/messages", json=body, timeout=10)
        assert posted.status_code == 202, posted.text
        received: list[str] = []
        deadline = time.monotonic() + TIMEOUT / 1000
        while not any(until in text for text in received):
            assert time.monotonic() < deadline, f"no reply with {until!r}: {received}"
            params = {"session": self.session, "after": self.cursor, "wait": "5"}
            answer = requests.get(f"{self.url}/chat/api/messages", params=params, timeout=10)
            data = answer.json()
            received.extend(message["text"] for message in data["messages"])
            self.cursor = data["cursor"]
        return "\n".join(received)


def ask(url: str, question: str, expected: str) -> str:
    """A new visitor greets, then asks `question`; the reply must contain `expected`."""
    chat = Chat(url)
    chat.say(
        "hello" if question.isascii() else "مرحبا",
        GREETING_EN if question.isascii() else GREETING_AR,
    )
    return chat.say(question, expected)


def rebuilt(gateway: Gateway, additions: int) -> set[str]:
    """The web processes whose FAQ was read with `additions` staff additions."""
    return {
        pid
        for pid, _version, count in REBUILT.findall(gateway.log("serve"))
        if int(count) == additions
    }


def on_every_process(gateway: Gateway, question: str, expected: str, additions: int) -> None:
    """Ask from new visitors until both web processes have searched the FAQ with
    `additions` staff additions; every answer must contain `expected`."""
    for _attempt in range(40):
        ask(gateway.url, question, expected)
        if len(rebuilt(gateway, additions)) >= 2:
            return
    raise AssertionError(f"one process only: {gateway.log('serve')[-2000:]}")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = Gateway(tmp_path_factory.mktemp("faq-learning"), REDIS_URL, {})
    try:
        for role in ("officer", "researcher"):  # it reads only .env
            _add_staff(gateway, f"{role}@example.org", role.title(), role)  # type: ignore[arg-type]
        gateway.start_serve(processes=2)
        gateway.start_worker()
        yield gateway
    finally:
        gateway.stop()


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT)
    return context.new_page()


def chat_ask(page: Page, text: str) -> str:
    """Type `text` in the web chat; the text of the bot's next bubble."""
    bubbles = page.get_by_role("log").locator(".msg-bot")
    before = bubbles.count()
    box = page.get_by_role("textbox")
    box.fill(text)
    box.press("Enter")
    expect(bubbles).to_have_count(before + 1)
    return bubbles.nth(before).inner_text()


def open_chat(browser: Browser, gateway: Gateway, english: bool = False) -> Page:
    """A visitor on the web chat page who has said hello (and got the greeting)."""
    page = new_page(browser)
    page.goto(f"{gateway.url}/chat" + ("?lang=en" if english else ""))
    greeting = chat_ask(page, "hello" if english else "مرحبا")
    assert (GREETING_EN if english else GREETING_AR) in greeting
    return page


def sign_in(page: Page, gateway: Gateway, email: str) -> None:
    signed_in(page, gateway, email)  # type: ignore[arg-type]  (it reads only .url)
    expect(page).to_have_url(f"{gateway.url}/console/")


def row_of(page: Page, text: str):  # type: ignore[no-untyped-def]
    return page.locator("table.questions tbody tr").filter(has_text=text)


def test_staff_teach_the_faq_and_every_process_answers_from_the_next_message(
    gateway: Gateway, browser: Browser
) -> None:
    profile_hash = hashlib.sha256(Path(PROFILE).read_bytes()).hexdigest()
    # Both web processes search the FAQ once before anything is taught (their index built).
    on_every_process(gateway, PETROL, NOT_UNDERSTOOD_AR, additions=0)

    # Two beneficiaries ask the same question on the web chat page, spelt differently.
    for question in (CLOTHES, CLOTHES_AGAIN):
        visitor = open_chat(browser, gateway)
        assert SERVICES.answer.ar not in chat_ask(visitor, question)
        visitor.context.close()

    # The officer sees it, asked twice, and attaches it to the services entry.
    staff = new_page(browser)
    sign_in(staff, gateway, "officer@example.org")
    staff.get_by_role("navigation").get_by_role("link", name="الأسئلة التي لم يُجب عنها").click()
    expect(staff.get_by_role("heading", level=1)).to_have_text("الأسئلة التي لم يُجب عنها")
    row = row_of(staff, "ملابس العيد")
    expect(row).to_have_count(1)
    expect(row.locator("td.asks")).to_have_text("2")
    expect(row_of(staff, PETROL).locator("td.asks")).not_to_have_text("0")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    staff.screenshot(path=str(SCREENSHOTS / "console-questions-ar.png"), full_page=True)
    row.get_by_text("إضافته إلى سؤال شائع").click()
    row.locator("form.attach select[name=entry]").select_option("services-list")
    row.locator("form.attach").get_by_role("button", name="إضافة").click()
    expect(staff).to_have_url(f"{gateway.url}/console/questions")
    expect(row_of(staff, "ملابس العيد")).to_have_count(0)
    expect(staff.locator("table.additions")).to_contain_text("officer@example.org")

    # The next ask is answered, on the web chat page and on both web processes.
    visitor = open_chat(browser, gateway)
    assert SERVICES.answer.ar[:40] in chat_ask(visitor, CLOTHES)
    visitor.context.close()
    on_every_process(gateway, CLOTHES, SERVICES.answer.ar[:40], additions=1)

    # An English question nobody answered gets a new entry in both languages.
    visitor = open_chat(browser, gateway, english=True)
    assert SWIM_ANSWER_EN not in chat_ask(visitor, SWIMMING)
    staff.reload()
    row = row_of(staff, "swimming lessons")
    expect(row.locator("td.asks")).to_have_text("1")
    row.get_by_text("كتابة سؤال شائع جديد").click()
    form = row.locator("form.new-entry")
    form.locator("select[name=topic]").select_option("services")
    expect(form.locator("input[name=question_en]")).to_have_value(SWIMMING)
    form.locator("input[name=question_ar]").fill(SWIMMING_AR)
    form.locator("textarea[name=answer_ar]").fill(SWIM_ANSWER_AR)
    form.locator("textarea[name=answer_en]").fill(SWIM_ANSWER_EN)
    form.get_by_role("button", name="إضافة السؤال").click()
    expect(row_of(staff, "swimming lessons")).to_have_count(0)
    assert SWIM_ANSWER_EN in chat_ask(visitor, SWIMMING)
    on_every_process(gateway, SWIMMING_AR, SWIM_ANSWER_AR, additions=2)

    # Not an FAQ: dismissed, off the list.
    row_of(staff, PETROL).get_by_role("button", name="ليس سؤالًا شائعًا").click()
    expect(row_of(staff, PETROL)).to_have_count(0)
    expect(staff.locator("table.questions")).to_contain_text("لا توجد أسئلة دون إجابة")

    # The profile file on disk was never rewritten.
    assert hashlib.sha256(Path(PROFILE).read_bytes()).hexdigest() == profile_hash


def test_a_researcher_is_refused_and_a_form_without_its_token_too(
    gateway: Gateway, browser: Browser
) -> None:
    researcher = new_page(browser)
    sign_in(researcher, gateway, "researcher@example.org")
    response = researcher.goto(f"{gateway.url}/console/questions")
    assert response is not None and response.status == 403
    ask(gateway.url, "متى صلاة الجمعة", "")  # "did you mean" counts as unanswered too
    officer = new_page(browser)
    sign_in(officer, gateway, "officer@example.org")
    officer.goto(f"{gateway.url}/console/questions")
    dismiss = row_of(officer, "صلاة الجمعة").locator("form.dismiss")
    dismiss.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    with officer.expect_response(re.compile(r"/dismiss$")) as posted:
        dismiss.get_by_role("button").click()
    assert posted.value.status == 403
    officer.goto(f"{gateway.url}/console/questions")
    expect(row_of(officer, "صلاة الجمعة")).to_have_count(1)  # nothing happened
