"""The administrators' pages and commands: staff accounts (add, disable, change role) from
the console and from `tawasul user …`, every change in the audit log, which admins filter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.db import Database
from bot.storage.audit import Subject
from bot.tables import StaffUser
from bot.users import list_staff, verify_password
from tests.conftest import tawasul_cli
from tests.console_helpers import (
    PASSWORD,
    ConsoleServer,
    console_server,
    email_of,
    page_token,
    sign_in,
)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as server:
        yield server


async def _post(
    console: ConsoleServer, client: aiohttp.ClientSession, path: str, data: dict[str, str]
) -> tuple[int, str]:
    token = await page_token(console, client)
    async with client.post(console.url(path), data={**data, "csrf_token": token}) as response:
        return response.status, await response.text()


async def _staff_id(console: ConsoleServer, email: str) -> int:
    return next(m.id for m in await list_staff(console.runtime.store) if m.email == email)


async def test_admin_adds_an_account_that_can_then_sign_in(console: ConsoleServer) -> None:
    async with console.client() as admin:
        await sign_in(console, admin, email_of("admin"))
        account = {
            "name": "سارة القحطاني",
            "email": "Sara@Example.org",
            "role": "researcher",
            "password": "a long first password",
        }
        status, html = await _post(console, admin, "/console/users", account)
        assert status == 200 and "تم إنشاء الحساب" in html
        assert "سارة القحطاني" in html and "sara@example.org" in html
        status, html = await _post(console, admin, "/console/users", account)
        assert status == 400 and "يوجد حساب بهذا البريد الإلكتروني" in html
        status, html = await _post(
            console, admin, "/console/users", {**account, "email": "x@y.org", "password": "short"}
        )
        assert status == 400 and "يُرجى مراجعة النموذج" in html
    async with console.client() as sara:
        response = await sign_in(console, sara, "sara@example.org", "a long first password")
        assert response.status == 302
        async with sara.get(console.url("/console/requests")) as page:
            assert page.status == 200
    entries = await console.runtime.store.audit.search(action="staff_user.created")
    created = next(e for e in entries if e.details and e.details["email"] == "sara@example.org")
    assert created.actor == email_of("admin") and created.address == "127.0.0.1"


async def test_admin_disables_and_changes_a_role_and_it_takes_effect_at_once(
    console: ConsoleServer,
) -> None:
    officer_id = await _staff_id(console, email_of("officer"))
    async with console.client() as admin, console.client() as officer:
        await sign_in(console, admin, email_of("admin"))
        await sign_in(console, officer, email_of("officer"))
        async with officer.get(console.url("/console/reports")) as page:
            assert page.status == 403
        status, html = await _post(
            console, admin, f"/console/users/{officer_id}", {"action": "role", "role": "manager"}
        )
        assert status == 200 and "تم حفظ التعديل" in html
        async with officer.get(console.url("/console/reports")) as page:
            assert page.status == 200  # a manager now, without signing in again
        status, _ = await _post(
            console, admin, f"/console/users/{officer_id}", {"action": "disable"}
        )
        assert status == 200
        async with officer.get(console.url("/console/"), allow_redirects=False) as page:
            assert page.status == 302 and page.headers["Location"] == "/console/login"
        # An admin cannot lock themselves out.
        admin_id = await _staff_id(console, email_of("admin"))
        status, html = await _post(
            console, admin, f"/console/users/{admin_id}", {"action": "disable"}
        )
        assert status == 400 and "لا يمكنك تعطيل حسابك" in html
        status, _ = await _post(console, admin, "/console/users/999", {"action": "disable"})
        assert status == 404
    changes = await console.runtime.store.audit.search(
        actor=email_of("admin"), action="staff_user."
    )
    assert [e.action for e in changes] == ["staff_user.disabled", "staff_user.role_changed"]
    assert changes[1].details == {
        "email": email_of("officer"),
        "before": "officer",
        "after": "manager",
    }


async def test_the_audit_log_filters_by_who_what_and_when(console: ConsoleServer) -> None:
    audit = console.runtime.store.audit
    await audit.record(
        "noura@example.org",
        "contact.viewed",
        Subject("contact", 7),
        {"fields": ["national_id"]},
        "10.1.2.3",
    )
    await audit.record(
        "fahad@example.org",
        "request.status_changed",
        Subject("support_request", 3),
        None,
        "10.1.2.4",
    )
    async with console.client() as admin:
        await sign_in(console, admin, email_of("admin"))
        async with admin.get(console.url("/console/audit?actor=Noura@example.org")) as page:
            html = await page.text()
        assert page.status == 200
        assert "contact.viewed" in html and "10.1.2.3" in html and "national_id" in html
        assert "request.status_changed" not in html
        async with admin.get(console.url("/console/audit?action=request.")) as page:
            html = await page.text()
        assert "request.status_changed" in html and "contact.viewed" not in html
        tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        async with admin.get(console.url(f"/console/audit?from={tomorrow}")) as page:
            html = await page.text()
        assert "لا توجد قيود تطابق هذه التصفية" in html
        # The association's day (Riyadh), as the page reads the dates: from 21:00 UTC on,
        # UTC's date is yesterday there.
        today = datetime.now(console.runtime.profile.tz).date().isoformat()
        async with admin.get(console.url(f"/console/audit?from={today}&to={today}")) as page:
            assert "contact.viewed" in await page.text()
        async with admin.get(console.url("/console/audit?from=yesterday")) as page:
            assert page.status == 400 and "سنة-شهر-يوم" in await page.text()
        # The admin's own sign-in is there, with where it came from.
        async with admin.get(console.url("/console/audit?action=staff.signed_in")) as page:
            assert email_of("admin") in await page.text()


def test_user_list_disable_and_set_password_from_the_command_line(tmp_path: Path) -> None:
    assert tawasul_cli(tmp_path, "migrate").returncode == 0
    for email, role in (("noura@example.org", "quality"), ("fahad@example.org", "admin")):
        added = tawasul_cli(
            tmp_path,
            *("user", "add", "--email", email, "--name", email.split("@")[0], "--role", role),
            "--password-stdin",
            stdin=PASSWORD + "\n",
        )
        assert added.returncode == 0, added.stderr
    disabled = tawasul_cli(tmp_path, "user", "disable", "noura@example.org")
    assert disabled.returncode == 0, disabled.stderr
    listed = tawasul_cli(tmp_path, "user", "list")
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["fahad@example.org", "admin", "active", "fahad"]
    assert lines[1].split() == ["noura@example.org", "quality", "disabled", "noura"]
    changed = tawasul_cli(
        tmp_path,
        "user",
        "set-password",
        "fahad@example.org",
        "--password-stdin",
        stdin="another long password\n",
    )
    assert changed.returncode == 0, changed.stderr
    database = Database(f"sqlite:///{tmp_path / 'var' / 'tawasul.db'}")
    try:
        with database.sessions() as session:
            stored = session.scalar(
                select(StaffUser.password_hash).where(StaffUser.email == "fahad@example.org")
            )
    finally:
        database.close()
    assert stored is not None and stored.startswith("$argon2id$")
    assert verify_password("another long password", stored)
    assert not verify_password(PASSWORD, stored)
    short = tawasul_cli(
        tmp_path, "user", "set-password", "fahad@example.org", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    unknown = tawasul_cli(tmp_path, "user", "disable", "nobody@example.org")
    assert unknown.returncode == 2 and "no staff user" in unknown.stderr
