"""The console never answers a stack trace, and sees staff's real addresses behind a trusted
proxy, over the whole web app (real SQLite and Redis): a record the key cannot read gives a
plain error page, a missing table a 503 in JSON to the inbox's script and a page to the
browser, each in the staff member's language; with TAWASUL_TRUST_FORWARDED_FOR the sign-in
limits and the audit log count the address X-Forwarded-For names, and without it they
ignore the header."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from sqlalchemy import select, text

from bot.crypto import Cipher
from bot.tables import AuditEntry
from tests.console_helpers import (
    PASSWORD,
    ConsoleServer,
    console_server,
    email_of,
    page_token,
    sign_in,
)
from tests.test_console_work_storage import beneficiary

FAILED_AR = "حدث خطأ من جهتنا"
UNAVAILABLE_AR = "تعذّر على لوحة العمل الوصول إلى سجلاتها الآن"
UNAVAILABLE_EN = "The console cannot reach its records just now."


def unreadable_message(console: ConsoleServer, conversation_id: int, address_id: int) -> None:
    """A message stored under another key (restored from another deployment's backup)."""
    sealed = Cipher("some-other-deployment-key").encrypt("نص لا يُقرأ")
    with console.runtime.store.db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO messages (conversation_id, address_id, direction, channel, body, "
                "status, attempts, created_at, updated_at) VALUES (:c, :a, 'in', 'webchat', "
                ":body, 'handled', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"c": conversation_id, "a": address_id, "body": sealed},
        )


def assert_plain(body: str) -> None:
    for leak in ("Traceback", "DecryptionError", "OperationalError", 'File "'):
        assert leak not in body


async def test_failures_answer_a_clear_message_in_the_staff_language(tmp_path: Path) -> None:
    async with console_server(tmp_path) as console:
        _contact, address_id, conversation_id = beneficiary(console.runtime.store, "e1")
        unreadable_message(console, conversation_id, address_id)
        async with console.client() as officer, console.client() as manager:
            await sign_in(console, officer, email_of("officer"))
            await sign_in(console, manager, email_of("manager"))
            token = await page_token(console, manager)
            async with manager.post(
                console.url("/console/language"), data={"csrf_token": token, "language": "en"}
            ) as switched:
                assert switched.status == 200
            async with officer.get(
                console.url(f"/console/conversations/{conversation_id}")
            ) as page:
                assert page.status == 500
                assert page.content_type == "text/html"
                body = await page.text()
                assert FAILED_AR in body and 'dir="rtl"' in body
                assert_plain(body)

            # The database loses a table the inbox reads (a botched restore, say).
            with console.runtime.store.db.engine.begin() as connection:
                connection.execute(text("ALTER TABLE handoffs RENAME TO handoffs_away"))
            async with officer.get(console.url("/console/inbox/items?filter=all")) as polled:
                assert polled.status == 503
                assert polled.headers["Retry-After"] == "5"
                data = await polled.json()
                assert data["status"] == 503 and data["error"].startswith(UNAVAILABLE_AR)
            async with manager.get(console.url("/console/inbox/items")) as polled:
                assert (await polled.json())["error"].startswith(UNAVAILABLE_EN)
            async with officer.get(console.url("/console/")) as inbox:
                assert inbox.status == 503 and inbox.content_type == "text/html"
                body = await inbox.text()
                assert UNAVAILABLE_AR in body
                assert_plain(body)
            async with officer.get(
                console.url("/console/"), headers={"Accept": "application/json"}
            ) as asked:
                assert asked.status == 503 and (await asked.json())["status"] == 503


def client_from(address: str | None) -> aiohttp.ClientSession:
    headers = {"X-Forwarded-For": f"10.9.8.7, {address}"} if address else {}
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers)


def sign_in_addresses(console: ConsoleServer) -> list[str | None]:
    with console.runtime.store.db.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry.address)
                .where(AuditEntry.action == "staff.signed_in")
                .order_by(AuditEntry.id)
            )
        )


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(tmp_path: Path) -> None:
    async with console_server(tmp_path, trust_forwarded_for=True) as console:
        async with client_from("198.51.100.9") as browser:
            assert (await sign_in(console, browser, email_of("officer"))).status == 302
        assert sign_in_addresses(console) == ["198.51.100.9"]
        # Thirty failures from one address (whatever the emails) close it, and only it.
        async with client_from("203.0.113.7") as attacker:
            for n in range(30):
                failed = await sign_in(console, attacker, f"nobody{n}@example.org", "wrong")
                assert failed.status == 401
            refused = await sign_in(console, attacker, email_of("officer"), PASSWORD)
            assert refused.status == 429
        async with client_from("203.0.113.8") as colleague:
            assert (await sign_in(console, colleague, email_of("officer"))).status == 302
        with console.runtime.store.db.sessions() as session:
            refusal = session.scalar(
                select(AuditEntry.address).where(AuditEntry.action == "staff.sign_in_refused")
            )
            assert refusal == "203.0.113.7"


async def test_without_trust_the_forwarded_header_is_ignored(tmp_path: Path) -> None:
    async with console_server(tmp_path) as console:
        async with client_from("198.51.100.9") as browser:
            assert (await sign_in(console, browser, email_of("officer"))).status == 302
        assert sign_in_addresses(console) == ["127.0.0.1"]
