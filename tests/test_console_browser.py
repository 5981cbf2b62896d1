"""The staff console in a real browser (Debian's Chromium) against a real `tawasul serve`:
each role signs in and sees the frame in Arabic, right to left; an officer is refused the
broadcasts page; a form without its CSRF token is refused; the sixth wrong password in a
minute is refused even when right; signing out ends the session for good; each staff member
keeps their own language. Screenshots of the sign-in page and the frame go to
docs/screenshots/ for the README (see SCREENSHOTS)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.console.permissions import ROUTE_ROLES
from bot.console.rendering import NAV
from bot.users import ROLES
from tests.browser import browser_context
from tests.conftest import ROOT, LiveGateway, launch_gateway
from tests.staff import PASSWORD
from tests.staff import add_staff as _add_staff

# The README's pictures: refresh them with TAWASUL_SCREENSHOTS=docs/screenshots (they show
# today's date, so a plain test run leaves the repository's copies alone).
SCREENSHOTS = ROOT / os.environ.get("TAWASUL_SCREENSHOTS", "/tmp/tawasul-screenshots")
TIMEOUT = 10_000
ROLE_AR = {
    "officer": "مسؤول علاقات المستفيدين",
    "researcher": "باحث اجتماعي",
    "quality": "مسؤول الجودة",
    "manager": "مدير",
    "admin": "مسؤول النظام",
}
NAV_AR = {
    "/console/": "الوارد",
    "/console/requests": "طلبات الدعم",
    "/console/complaints": "الشكاوى",
    "/console/contacts": "المستفيدون",
    "/console/questions": "الأسئلة التي لم يُجب عنها",
    "/console/broadcasts": "الرسائل الجماعية",
    "/console/reports": "التقارير",
    "/console/users": "حسابات الموظفين",
    "/console/audit": "سجل التدقيق",
}
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    """A gateway of its own (its own sign-in counts), with staff of every role."""
    with launch_gateway(tmp_path_factory.mktemp("console")) as gateway:
        for role in ROLES:
            _add_staff(gateway, f"{role}@example.org", f"{role.title()} Staff", role)
        _add_staff(gateway, "locked@example.org", "نورة العتيبي", "officer")
        _add_staff(gateway, "english@example.org", "Fahad", "researcher")
        _add_staff(gateway, "leaving@example.org", "Huda", "officer")
        yield gateway


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    with browser_context(browser, TIMEOUT, {"width": 1280, "height": 800}) as context:
        yield context


def sign_in(page: Page, gateway: LiveGateway, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{gateway.url}/console/login")
    page.get_by_label("البريد الإلكتروني").fill(email)
    page.get_by_label("كلمة المرور").fill(password)
    page.get_by_role("button", name="تسجيل الدخول").click()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_and_sees_the_frame_in_arabic(
    gateway: LiveGateway, page: Page, role: str
) -> None:
    sign_in(page, gateway, f"{role}@example.org")
    expect(page).to_have_url(f"{gateway.url}/console/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("الوارد")
    expect(page.locator(".topbar")).to_contain_text(f"{role.title()} Staff")
    expect(page.locator(".topbar .role")).to_have_text(ROLE_AR[role])
    expect(page.locator(".topbar .today")).to_contain_text("هـ")  # Hijri beside Gregorian
    navigation = page.get_by_role("navigation", name="أقسام لوحة العمل")  # the sidebar
    for path, _title in NAV:
        link = navigation.get_by_role("link", name=NAV_AR[path], exact=True)
        expect(link).to_have_count(1 if role in ROUTE_ROLES[("GET", path)] else 0)
    # Right to left: the navigation is on the right of the page.
    nav_box = navigation.bounding_box()
    assert nav_box is not None and nav_box["x"] > 1280 / 2
    # The style sheet came from the app itself.
    color = page.locator(".topbar").evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(15, 107, 92)"
    if role == "admin":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "console-frame-ar.png"))
        assert (SCREENSHOTS / "console-frame-ar.png").stat().st_size > 10_000


def test_the_sign_in_page_is_arabic_and_right_to_left(gateway: LiveGateway, page: Page) -> None:
    page.goto(f"{gateway.url}/console/")  # not signed in: sent to sign in
    expect(page).to_have_url(f"{gateway.url}/console/login")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("لوحة عمل الموظفين")
    expect(page.get_by_role("link", name="English")).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console-sign-in-ar.png"))
    assert (SCREENSHOTS / "console-sign-in-ar.png").stat().st_size > 10_000
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff console")


def test_an_officer_is_refused_the_broadcasts_page(gateway: LiveGateway, page: Page) -> None:
    sign_in(page, gateway, "officer@example.org")
    expect(page).to_have_url(f"{gateway.url}/console/")
    response = page.goto(f"{gateway.url}/console/broadcasts")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("غير مسموح")
    expect(page.get_by_role("main")).to_contain_text("دورك في النظام لا يتيح لك")


def test_a_form_sent_without_its_csrf_token_is_refused(gateway: LiveGateway, page: Page) -> None:
    sign_in(page, gateway, "manager@example.org")
    expect(page).to_have_url(f"{gateway.url}/console/")
    sign_out = page.locator("form[action='/console/logout']")
    sign_out.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(f"{gateway.url}/console/logout") as posted:
        sign_out.get_by_role("button").click()
    assert posted.value.status == 403
    expect(page.get_by_role("main")).to_contain_text("انتهت صلاحية هذا النموذج")
    page.goto(f"{gateway.url}/console/")  # nothing happened: still signed in
    expect(page.get_by_role("heading", level=1)).to_have_text("الوارد")


def test_the_sixth_wrong_password_in_a_minute_is_refused_even_when_right(
    gateway: LiveGateway, page: Page
) -> None:
    for attempt in range(5):
        sign_in(page, gateway, "locked@example.org", f"wrong password {attempt}")
        expect(page.get_by_role("alert")).to_have_text(
            "البريد الإلكتروني أو كلمة المرور غير صحيحة. يُرجى المحاولة مرة أخرى."
        )
    sign_in(page, gateway, "locked@example.org")
    expect(page.get_by_role("alert")).to_have_text(
        "محاولات دخول كثيرة. يُرجى الانتظار دقيقة ثم المحاولة مرة أخرى."
    )
    expect(page).to_have_url(f"{gateway.url}/console/login")
    page.goto(f"{gateway.url}/console/")
    expect(page).to_have_url(f"{gateway.url}/console/login")


def test_signing_out_ends_the_session_for_good(
    gateway: LiveGateway, browser: Browser, page: Page, context: BrowserContext
) -> None:
    sign_in(page, gateway, "leaving@example.org")
    expect(page).to_have_url(f"{gateway.url}/console/")
    kept = [cookie for cookie in context.cookies() if cookie["name"] == "tawasul_console"]
    assert len(kept) == 1 and kept[0]["httpOnly"] and kept[0]["sameSite"] == "Lax"
    page.get_by_role("button", name="تسجيل الخروج").click()
    expect(page).to_have_url(f"{gateway.url}/console/login")
    # Someone who copied the cookie before sign-out cannot use it.
    other = browser.new_context()
    try:
        other.add_cookies(kept)  # type: ignore[arg-type]
        replay = other.new_page()
        replay.goto(f"{gateway.url}/console/")
        expect(replay).to_have_url(f"{gateway.url}/console/login")
    finally:
        other.close()


def test_each_staff_member_keeps_their_own_language(
    gateway: LiveGateway, browser: Browser, page: Page
) -> None:
    sign_in(page, gateway, "english@example.org")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    expect(page.locator(".topbar .role")).to_have_text("Social researcher")
    page.get_by_role("button", name="Sign out").click()
    # Signed in again later, they find the console in English...
    page.get_by_label("البريد الإلكتروني").fill("english@example.org")
    page.get_by_label("كلمة المرور").fill(PASSWORD)
    page.get_by_role("button", name="تسجيل الدخول").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbox")
    # ...while a colleague's stays Arabic.
    colleague = browser.new_context()
    try:
        other = colleague.new_page()
        sign_in(other, gateway, "researcher@example.org")
        expect(other.get_by_role("heading", level=1)).to_have_text("الوارد")
    finally:
        colleague.close()
