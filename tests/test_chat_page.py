"""The web chat page in a real browser (Chromium) against a live gateway (serve + worker).

Each test opens a fresh browser context (its own localStorage, so its own conversation) and
checks what a visitor sees: the page's direction and language, their own messages, the bot's
replies and buttons, the language switch, a reload, and the notice when the server is gone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    Route,
    expect,
)

from tests.browser import PHONE, browser_context
from tests.conftest import LiveGateway

REPLY_TIMEOUT = 10_000  # ms: replies go through the worker
SCREENSHOT = Path("/tmp/chat-ar.png")
expect.set_options(timeout=REPLY_TIMEOUT)

NAME_AR = "جمعية البر الخيرية النموذجية"
NAME_EN = "Model Charity Association"
APPLY_AR = "تقديم طلب دعم"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A new visitor on a phone-sized screen."""
    with browser_context(browser, REPLY_TIMEOUT, PHONE, device_scale_factor=2) as context:
        yield context


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox")
    box.fill(text)
    box.press("Enter")


def bot_bubbles(page: Page) -> Locator:
    return page.get_by_role("log").locator(".msg-bot")


def visitor_bubbles(page: Page) -> Locator:
    return page.get_by_role("log").locator(".msg-visitor")


def visitor_texts(page: Page) -> Locator:
    """What the visitor wrote, without the label kept for screen readers."""
    return visitor_bubbles(page).locator(".msg-text")


def menu_buttons(page: Page) -> Locator:
    return page.get_by_role("log").get_by_role("button")


def test_arabic_visitor_greets_and_chooses_a_service(live_gateway: LiveGateway, page: Page) -> None:
    page.goto(f"{live_gateway.url}/chat")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME_AR)
    expect(page.get_by_role("link", name="English")).to_have_attribute("href", "?lang=en")
    expect(page.get_by_role("link", name="سياسة الخصوصية")).to_have_attribute(
        "href", "https://example.org/privacy"
    )
    expect(page.get_by_role("button", name="إرسال")).to_be_visible()

    send(page, "مرحبا")
    # The visitor's own message shows at once, and the box is ready for the next one.
    expect(visitor_bubbles(page)).to_have_count(1)
    expect(visitor_bubbles(page).first).to_contain_text("مرحبا")
    expect(page.get_by_role("textbox")).to_have_value("")

    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    buttons = menu_buttons(page)
    expect(buttons).to_have_count(8)
    expect(buttons.first).to_have_text("أسئلة واستفسارات")
    expect(buttons.last).to_have_text("English")
    # Only the greeting: the page's own language press and its confirmation are not shown.
    expect(bot_bubbles(page)).to_have_count(1)
    expect(page.get_by_role("log")).not_to_contain_text("سأجيبك من الآن")
    # Sent: the "sending" line is gone.
    expect(page.get_by_text("جارٍ الإرسال")).to_have_count(0)

    # The menu's buttons wrap inside the screen and are large enough to touch.
    log_box = page.get_by_role("log").bounding_box()
    assert log_box is not None
    for index in range(8):
        box = menu_buttons(page).nth(index).bounding_box()
        assert box is not None
        assert box["height"] >= 44
        assert log_box["x"] - 1 <= box["x"] and box["x"] + box["width"] <= 390

    page.get_by_role("button", name=APPLY_AR).click()
    expect(visitor_bubbles(page)).to_have_count(2)
    expect(visitor_texts(page).last).to_have_text(APPLY_AR)
    expect(bot_bubbles(page)).to_have_count(3)  # the form's introduction and first question
    expect(bot_bubbles(page).nth(1)).to_contain_text("لنعبّئ طلب الدعم معًا")
    expect(bot_bubbles(page).last).to_contain_text("السؤال 1 من 11")
    expect(menu_buttons(page)).to_have_count(0)  # the old menu went with the answer

    # Right to left: the bot on the right (inline start), the visitor on the left (inline end).
    log_box = page.get_by_role("log").bounding_box()
    bot_box = bot_bubbles(page).last.locator(".msg-text").bounding_box()
    visitor_box = visitor_bubbles(page).last.locator(".msg-text").bounding_box()
    assert log_box and bot_box and visitor_box
    assert abs((bot_box["x"] + bot_box["width"]) - (log_box["x"] + log_box["width"])) < 2
    assert abs(visitor_box["x"] - log_box["x"]) < 2
    assert visitor_box["x"] + visitor_box["width"] < log_box["x"] + log_box["width"] * 0.9
    page.screenshot(path=str(SCREENSHOT), full_page=False)
    assert SCREENSHOT.stat().st_size > 10_000


def test_english_page_answers_in_english(live_gateway: LiveGateway, page: Page) -> None:
    page.goto(f"{live_gateway.url}/chat?lang=en")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME_EN)
    expect(page.get_by_role("link", name="العربية")).to_have_attribute("href", "?lang=ar")
    expect(page.get_by_role("textbox", name="Your message")).to_have_attribute(
        "placeholder", "Write your message…"
    )

    send(page, "hi")
    expect(bot_bubbles(page).first).to_contain_text(f"Welcome to {NAME_EN}")
    expect(menu_buttons(page)).to_have_count(8)
    expect(menu_buttons(page).first).to_have_text("Questions and answers")
    expect(menu_buttons(page).last).to_have_text("العربية")
    expect(bot_bubbles(page)).to_have_count(1)

    # Left to right: the bot on the left, the visitor on the right.
    log_box = page.get_by_role("log").bounding_box()
    bot_box = bot_bubbles(page).first.locator(".msg-text").bounding_box()
    visitor_box = visitor_bubbles(page).first.locator(".msg-text").bounding_box()
    assert log_box and bot_box and visitor_box
    assert abs(bot_box["x"] - log_box["x"]) < 2
    assert abs((visitor_box["x"] + visitor_box["width"]) - (log_box["x"] + log_box["width"])) < 2


def test_english_page_answers_arabic_text_in_english(live_gateway: LiveGateway, page: Page) -> None:
    """The page's language wins over the script the visitor happens to type in."""
    page.goto(f"{live_gateway.url}/chat")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    assert page.url.endswith("/chat?lang=en")

    send(page, "مرحبا")
    expect(bot_bubbles(page).first).to_contain_text(f"Welcome to {NAME_EN}")
    expect(menu_buttons(page).first).to_have_text("Questions and answers")


def test_switching_language_mid_conversation(live_gateway: LiveGateway, page: Page) -> None:
    page.goto(f"{live_gateway.url}/chat")
    send(page, "مرحبا")
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)

    # The bot's own language button: the bot answers in English and the page follows.
    page.get_by_role("log").get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    assert "lang=en" in page.url
    expect(bot_bubbles(page).last).to_contain_text("From now on I will answer in English.")
    expect(menu_buttons(page).first).to_have_text("Questions and answers")
    # The conversation so far is still there, in order.
    expect(visitor_texts(page)).to_have_text(["مرحبا", "English"])
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)

    # The page's link back to Arabic: the bot says so in Arabic, visibly.
    page.get_by_role("link", name="العربية").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(bot_bubbles(page).last).to_contain_text("سأجيبك من الآن باللغة العربية")
    expect(menu_buttons(page).first).to_have_text("أسئلة واستفسارات")
    send(page, "٢")  # Arabic-Indic digit: "Apply for support"
    expect(bot_bubbles(page).last).to_contain_text("السؤال 1 من 11")


def test_reload_keeps_the_conversation(live_gateway: LiveGateway, page: Page) -> None:
    page.goto(f"{live_gateway.url}/chat")
    send(page, "مرحبا")
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    session = page.evaluate("JSON.parse(localStorage.getItem('tawasul.chat')).session")

    page.reload()
    expect(bot_bubbles(page)).to_have_count(1)
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    expect(visitor_texts(page)).to_have_text(["مرحبا"])
    # The visitor's message comes before the bot's answer to it.
    items = page.get_by_role("log").locator(".msg")
    expect(items.first).to_have_class(re.compile(r"\bmsg-visitor\b"))
    expect(items.nth(1)).to_contain_text(NAME_AR)
    assert page.evaluate("JSON.parse(localStorage.getItem('tawasul.chat')).session") == session

    # Still the same conversation: the menu's buttons work after the reload.
    page.get_by_role("button", name=APPLY_AR).click()
    expect(bot_bubbles(page).last).to_contain_text("السؤال 1 من 11")
    expect(bot_bubbles(page)).to_have_count(3)


def test_visitor_text_is_shown_as_text(live_gateway: LiveGateway, page: Page) -> None:
    page.goto(f"{live_gateway.url}/chat")
    page.evaluate("window.pwned = false")
    text = '<img src=x onerror="window.pwned = true"> سطر أول'
    box = page.get_by_role("textbox")
    box.fill(text)
    box.press("Shift+Enter")  # a new line, not a send
    box.press_sequentially("سطر ثانٍ")
    box.press("Enter")
    expect(visitor_texts(page).first).to_have_text(text + "\nسطر ثانٍ")
    expect(visitor_bubbles(page).first.locator("img")).to_have_count(0)
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)  # answered with the greeting
    assert page.evaluate("window.pwned") is False


def test_unreachable_server_shows_a_notice_and_the_message_gets_through(
    live_gateway: LiveGateway, page: Page
) -> None:
    page.goto(f"{live_gateway.url}/chat")
    expect(page.get_by_role("textbox")).to_be_editable()
    page.wait_for_function("localStorage.getItem('tawasul.chat') !== null")
    api = re.compile(r"/chat/api/")
    page.route(api, lambda route: route.abort("internetdisconnected"))

    send(page, "مرحبا")
    notice = page.get_by_role("alert")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("تعذّر الاتصال بالخادم")
    expect(visitor_bubbles(page).first).to_contain_text("لم تُرسَل بعد")

    page.unroute(api)
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR, timeout=20_000)
    expect(notice).to_be_hidden()
    expect(visitor_bubbles(page).first).not_to_contain_text("لم تُرسَل بعد")
    expect(bot_bubbles(page)).to_have_count(1)  # retried with the same client id: one answer


def test_unknown_session_starts_a_new_conversation(live_gateway: LiveGateway, page: Page) -> None:
    """A token the server did not sign (or signed with an old key) is replaced, not an error."""
    page.goto(f"{live_gateway.url}/chat")
    page.evaluate(
        """localStorage.setItem('tawasul.chat', JSON.stringify(
            {session: 'forged.0123456789abcdef0123456789abcdef', lang: 'ar',
             transcript: [], hidden: []}))"""
    )
    page.reload()
    send(page, "مرحبا")
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    expect(menu_buttons(page)).to_have_count(8)
    expect(page.get_by_role("alert")).to_be_hidden()
    session = page.evaluate("JSON.parse(localStorage.getItem('tawasul.chat')).session")
    assert not session.startswith("forged.")


# -- issue 10: text that is not valid Unicode, and a server asking the page to slow down ------
def posted_texts(page: Page) -> list[str]:
    """Collects the text of every message the page posts, as the server would read it."""
    texts: list[str] = []

    def seen(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/chat/api/messages"):
            texts.append(json.loads(request.post_data or "{}").get("text", ""))

    page.on("request", seen)
    return texts


def test_a_lone_surrogate_is_repaired_and_later_messages_follow(
    live_gateway: LiveGateway, page: Page
) -> None:
    page.goto(f"{live_gateway.url}/chat")
    expect(page.get_by_role("textbox")).to_be_editable()
    texts = posted_texts(page)
    # Half an emoji, as a broken paste or input method leaves it.
    page.evaluate(
        """() => {
            document.getElementById('chat-input').value = 'مرحبا \\ud83d';
            document.getElementById('chat-form').requestSubmit();
        }"""
    )
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    expect(visitor_texts(page)).to_have_text(["مرحبا \ufffd"])
    send(page, "١")
    expect(bot_bubbles(page)).to_have_count(2)
    assert [text for text in texts if text] == ["مرحبا \ufffd", "١"]
    expect(page.get_by_role("alert")).to_be_hidden()


def test_after_a_reload_a_stored_lone_surrogate_does_not_block_the_next_messages(
    live_gateway: LiveGateway, page: Page
) -> None:
    """An older page left a message with a lone surrogate waiting in localStorage."""
    page.goto(f"{live_gateway.url}/chat")
    page.wait_for_function("localStorage.getItem('tawasul.chat') !== null")
    page.evaluate(
        """() => {
            const state = JSON.parse(localStorage.getItem('tawasul.chat'));
            state.transcript.push(
                {cid: crypto.randomUUID(), text: 'مرحبا \\udc00', after: '0-0', state: 'pending'},
                {cid: crypto.randomUUID(), text: '١', after: '0-0', state: 'pending'});
            localStorage.setItem('tawasul.chat', JSON.stringify(state));
        }"""
    )
    texts = posted_texts(page)
    page.reload()
    expect(bot_bubbles(page)).to_have_count(2)
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    expect(visitor_texts(page)).to_have_text(["مرحبا \ufffd", "١"])
    assert [text for text in texts if text] == ["مرحبا \ufffd", "١"]
    expect(page.locator(".msg-failed")).to_have_count(0)


def test_too_fast_shows_a_notice_and_the_message_gets_through(
    live_gateway: LiveGateway, page: Page
) -> None:
    page.goto(f"{live_gateway.url}/chat")
    expect(page.get_by_role("textbox")).to_be_editable()
    refused: list[str] = []

    def once_too_fast(route: Route) -> None:
        if route.request.method == "POST" and not refused:
            refused.append(route.request.url)
            route.fulfill(
                status=429,
                headers={"Retry-After": "2"},
                content_type="application/json",
                body='{"error": "too many messages, please slow down", "retry_after": 2}',
            )
        else:
            route.fallback()

    page.route(re.compile(r"/chat/api/messages$"), once_too_fast)
    send(page, "مرحبا")
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("أنت ترسل الرسائل بسرعة كبيرة")
    expect(bot_bubbles(page).first).to_contain_text(NAME_AR)
    expect(notice).to_be_hidden()
    expect(bot_bubbles(page)).to_have_count(1)
    assert refused


def test_a_message_the_server_keeps_failing_does_not_block_the_next(
    live_gateway: LiveGateway, page: Page
) -> None:
    """Whatever makes the server fail one message (it answers 5xx, it is not unreachable),
    the page gives up on it after a while and the next message goes through. The page's
    clock is run forward through the back-off instead of waiting minutes."""
    page.clock.install()
    page.goto(f"{live_gateway.url}/chat")
    expect(page.get_by_role("textbox")).to_be_editable()
    page.wait_for_function("localStorage.getItem('tawasul.chat') !== null")
    failed: list[str] = []

    def poisoned(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if route.request.method == "POST" and body.get("text") == "مسموم":
            failed.append(body["client_id"])
            route.fulfill(status=503, content_type="application/json", body="{}")
        else:
            route.fallback()

    page.route(re.compile(r"/chat/api/messages$"), poisoned)
    send(page, "مسموم")
    send(page, "مرحبا")
    for _ in range(40):  # up to 600 s of the page's time
        if page.locator(".msg-failed").count():
            break
        page.clock.run_for(15_000)  # within a request's time limit (20 s)
        page.wait_for_timeout(150)  # real time, for the answer to come back
    expect(page.locator(".msg-failed")).to_have_count(1)
    expect(visitor_bubbles(page).first).to_contain_text("تعذّر إرسال هذه الرسالة")
    assert len(failed) == 10 and len(set(failed)) == 1  # the same message, ten times
    page.clock.resume()
    expect(bot_bubbles(page).last).to_contain_text(NAME_AR)  # the next one was answered
