"""Signing in to the staff console: passwords (argon2, old scrypt hashes upgraded), the
session (cookie flags, idle expiry in Redis, sign-out on the server), CSRF, and the limit on
wrong passwords. Through the real web app and a real Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.console.sessions import COOKIE, IDLE_SECONDS
from bot.console.throttle import ADDRESS_FAILURES
from bot.tables import StaffUser
from bot.users import disable_user, legacy_scrypt_hash, set_password
from tests.console_helpers import (
    PASSWORD,
    ConsoleServer,
    console_server,
    csrf_token,
    email_of,
    page_token,
    sign_in,
)

WRONG_TEXT = "البريد الإلكتروني أو كلمة المرور غير صحيحة"
TOO_MANY_TEXT = "محاولات دخول كثيرة"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as server:
        yield server


def password_hash(console: ConsoleServer, email: str) -> str:
    with console.runtime.db.sessions() as session:
        value = session.scalar(select(StaffUser.password_hash).where(StaffUser.email == email))
        assert value is not None
        return value


async def test_a_right_password_opens_the_inbox_in_arabic(console: ConsoleServer) -> None:
    async with console.client() as client:
        response = await sign_in(console, client, email_of("officer"))
        assert response.status == 302 and response.headers["Location"] == "/console/"
        async with client.get(console.url("/console/")) as inbox:
            html = await inbox.text()
        assert inbox.status == 200
        assert '<html lang="ar" dir="rtl">' in html
        assert "الوارد" in html and "Officer Staff" in html and "مسؤول علاقات المستفيدين" in html
        assert "هـ" in html  # today's date, Hijri beside Gregorian
    assert password_hash(console, email_of("officer")).startswith("$argon2id$")


async def test_wrong_email_and_wrong_password_get_the_same_answer(console: ConsoleServer) -> None:
    async with console.client() as client:
        unknown = await sign_in(console, client, "nobody@example.org")
        async with client.get(console.url("/console/login")):
            pass
        wrong = await sign_in(console, client, email_of("officer"), "not the password")
    assert unknown.status == wrong.status == 401
    for response in (unknown, wrong):
        assert response.cookies.get(COOKIE) is None
    async with console.client() as client:
        page = await _login_page_after_failure(console, client, "nobody@example.org")
        other = await _login_page_after_failure(console, client, email_of("officer"))
    assert WRONG_TEXT in page and WRONG_TEXT in other
    assert page.replace("nobody@example.org", "X") == other.replace(email_of("officer"), "X")


async def _login_page_after_failure(
    console: ConsoleServer, client: aiohttp.ClientSession, email: str
) -> str:
    async with client.get(console.url("/console/login")) as page:
        token = csrf_token(await page.text())
    form = {"email": email, "password": "not the password", "csrf_token": token}
    async with client.post(console.url("/console/login"), data=form) as response:
        html = await response.text()
    # The token is the same on both pages (one browser); only the typed email differs.
    return html


async def test_an_old_scrypt_hash_still_signs_in_and_is_upgraded(console: ConsoleServer) -> None:
    email = email_of("researcher")
    with console.runtime.db.sessions.begin() as session:
        session.execute(
            update(StaffUser)
            .where(StaffUser.email == email)
            .values(password_hash=legacy_scrypt_hash(PASSWORD, b"0123456789abcdef"))
        )
    assert password_hash(console, email).startswith("scrypt$")
    async with console.client() as client:
        response = await sign_in(console, client, email)
    assert response.status == 302
    upgraded = password_hash(console, email)
    assert upgraded.startswith("$argon2id$")
    async with console.client() as client:  # and the new hash works the next time
        assert (await sign_in(console, client, email)).status == 302
        assert (await sign_in(console, client, email, "wrong password!")).status == 401


async def test_the_sixth_wrong_password_in_a_minute_is_refused_even_when_right(
    console: ConsoleServer,
) -> None:
    email = email_of("quality")
    async with console.client() as client:
        for attempt in range(5):
            response = await sign_in(console, client, email, f"wrong password {attempt}")
            assert response.status == 401, attempt
        refused = await sign_in(console, client, email)
        assert refused.status == 429
        assert refused.cookies.get(COOKIE) is None
        async with client.get(console.url("/console/")) as inbox:
            assert inbox.history and inbox.url.path == "/console/login"
    # Another account, from the same address, is not locked by those five.
    async with console.client() as client:
        assert (await sign_in(console, client, email_of("manager"))).status == 302


async def test_many_failures_from_one_address_lock_it(console: ConsoleServer) -> None:
    async with console.client() as client:
        for attempt in range(ADDRESS_FAILURES):
            response = await sign_in(console, client, f"guess{attempt}@example.org", "guess it!")
            assert response.status == 401, attempt
        assert (await sign_in(console, client, email_of("admin"))).status == 429


async def test_the_cookie_is_httponly_lax_and_the_session_idles_out_in_redis(
    console: ConsoleServer,
) -> None:
    async with console.client() as client:
        response = await sign_in(console, client, email_of("manager"))
        cookie = response.cookies[COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert not cookie["secure"]  # the public URL is http here
        keys = [key async for key in console.runtime.redis.scan_iter("tawasul:console:session:*")]
        ttls = [await console.runtime.redis.ttl(key) for key in keys]
        assert ttls and all(0 < ttl <= IDLE_SECONDS for ttl in ttls)
        assert cookie.value.encode() not in b"".join(keys)  # only a hash of it is stored
        # Idle long enough and the session is gone: the next request must sign in again.
        for key in keys:
            await console.runtime.redis.expire(key, 1)
        deadline = time.monotonic() + 5
        while any([await console.runtime.redis.exists(key) for key in keys]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        async with client.get(console.url("/console/"), allow_redirects=False) as inbox:
            assert inbox.status == 302 and inbox.headers["Location"] == "/console/login"


async def test_signing_in_again_ends_the_previous_session(console: ConsoleServer) -> None:
    async with console.client() as client:
        await sign_in(console, client, email_of("officer"))
        first = next(c.value for c in client.cookie_jar if c.key == COOKIE)
        token = await page_token(console, client)
        form = {"email": email_of("manager"), "password": PASSWORD, "csrf_token": token}
        async with client.post(
            console.url("/console/login"), data=form, allow_redirects=False
        ) as response:
            assert response.status == 302
        async with client.get(console.url("/console/reports")) as page:
            assert page.status == 200  # now the manager
    async with console.client() as replay:
        async with replay.get(
            console.url("/console/"), headers={"Cookie": f"{COOKIE}={first}"}, allow_redirects=False
        ) as response:
            assert response.status == 302


async def test_the_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    async with console_server(tmp_path, public_url="https://charity.example.org") as console:
        async with console.client() as client:
            async with client.get(console.url("/console/login")) as page:
                assert page.cookies["tawasul_console_login"]["secure"] is True
                token = csrf_token(await page.text())
            form = {"email": email_of("admin"), "password": PASSWORD, "csrf_token": token}
            # The browser would not send a Secure cookie back over http: give it by hand.
            async with client.post(
                console.url("/console/login"),
                data=form,
                allow_redirects=False,
                headers={"Cookie": f"tawasul_console_login={token}"},
            ) as response:
                assert response.status == 302
                assert response.cookies[COOKIE]["secure"] is True


async def test_sign_out_ends_the_session_on_the_server(console: ConsoleServer) -> None:
    async with console.client() as client:
        await sign_in(console, client, email_of("officer"))
        old = next(c.value for c in client.cookie_jar if c.key == COOKIE)
        token = await page_token(console, client)
        async with client.post(
            console.url("/console/logout"), data={"csrf_token": token}, allow_redirects=False
        ) as response:
            assert response.status == 302 and response.headers["Location"] == "/console/login"
    async with console.client() as replay:  # someone who kept the old cookie
        async with replay.get(
            console.url("/console/"), headers={"Cookie": f"{COOKIE}={old}"}, allow_redirects=False
        ) as response:
            assert response.status == 302 and response.headers["Location"] == "/console/login"


async def test_a_post_without_the_csrf_token_is_refused(console: ConsoleServer) -> None:
    async with console.client() as client:
        await sign_in(console, client, email_of("officer"))
        token = await page_token(console, client)
        for data in ({}, {"csrf_token": "forged"}, {"csrf_token": token[:-1]}):
            async with client.post(
                console.url("/console/logout"), data=data, allow_redirects=False
            ) as response:
                assert response.status == 403, data
                assert "انتهت صلاحية هذا النموذج" in await response.text()
        async with client.get(console.url("/console/")) as inbox:  # still signed in
            assert inbox.status == 200 and not inbox.history
        # A script may send the token in a header instead.
        async with client.post(
            console.url("/console/logout"), headers={"X-CSRF-Token": token}, allow_redirects=False
        ) as response:
            assert response.status == 302
    async with console.client() as client:  # the sign-in form needs its token too
        async with client.get(console.url("/console/login")):
            pass
        form = {"email": email_of("officer"), "password": PASSWORD}
        async with client.post(
            console.url("/console/login"), data=form, allow_redirects=False
        ) as response:
            assert response.status == 403
            assert response.cookies.get(COOKIE) is None


async def test_disabling_or_a_new_password_ends_open_sessions(console: ConsoleServer) -> None:
    store = console.runtime.store
    async with console.client() as officer, console.client() as researcher:
        await sign_in(console, officer, email_of("officer"))
        await sign_in(console, researcher, email_of("researcher"))
        await disable_user(store, email_of("officer"))
        await set_password(store, email_of("researcher"), "a brand new password")
        for client in (officer, researcher):
            async with client.get(console.url("/console/"), allow_redirects=False) as response:
                assert response.status == 302
                assert response.headers["Location"] == "/console/login"
        assert (await sign_in(console, officer, email_of("officer"))).status == 401
        assert (await sign_in(console, researcher, email_of("researcher"))).status == 401
        response = await sign_in(
            console, researcher, email_of("researcher"), "a brand new password"
        )
        assert response.status == 302
