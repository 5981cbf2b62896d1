"""Shared by the console tests: a gateway app over a fresh SQLite database, staff accounts of
every role, and signing in through the real form (token and cookie included)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app.runtime import Runtime, open_runtime
from bot.app.web import create_app
from bot.migrate import upgrade
from bot.settings import load_settings
from bot.users import ROLES, add_user
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def email_of(role: str) -> str:
    return f"{role}@example.org"


@dataclass
class ConsoleServer:
    app: web.Application
    server: TestServer
    runtime: Runtime

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def client(self) -> aiohttp.ClientSession:
        """A new browser: its own cookies (IP-address cookies allowed, as for 127.0.0.1)."""
        return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@asynccontextmanager
async def console_server(
    tmp_path: Path,
    public_url: str = "http://127.0.0.1:8080",
    profile: Path = PROFILE,
    trust_forwarded_for: bool = False,
) -> AsyncIterator[ConsoleServer]:
    """The whole web app (create_app) with one staff account per role. Its own queue name
    keeps its sign-in counts in Redis apart from other tests'."""
    database_url = f"sqlite:///{tmp_path / 'tawasul.db'}"
    upgrade(database_url)
    settings = load_settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        profile=profile,
        public_url=public_url,
        trust_forwarded_for=trust_forwarded_for,
        queue_name=f"console-{uuid.uuid4().hex[:8]}",
    )
    runtime = await open_runtime(settings, embedded_redis=False, with_channels=False)
    for role in ROLES:
        await add_user(runtime.store, email_of(role), f"{role.title()} Staff", role, PASSWORD)
    app = create_app(runtime)
    async with TestServer(app) as server:
        yield ConsoleServer(app, server, runtime)
    await runtime.close()


def csrf_token(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no csrf_token input"
    return match.group(1)


async def sign_in(
    console: ConsoleServer, client: aiohttp.ClientSession, email: str, password: str = PASSWORD
) -> aiohttp.ClientResponse:
    """Open the sign-in page and submit it, as a browser does; the response is not followed."""
    return await sign_in_at(console.url("/console/login"), client, email, password)


async def sign_in_at(
    login_url: str, client: aiohttp.ClientSession, email: str, password: str = PASSWORD
) -> aiohttp.ClientResponse:
    """The same at any gateway's sign-in page (a `tawasul serve` of another process)."""
    async with client.get(login_url) as page:
        token = csrf_token(await page.text())
    form = {"email": email, "password": password, "csrf_token": token}
    async with client.post(login_url, data=form, allow_redirects=False) as response:
        await response.read()
        return response


async def page_token(console: ConsoleServer, client: aiohttp.ClientSession) -> str:
    """The session's CSRF token, read from a page's forms."""
    async with client.get(console.url("/console/")) as page:
        assert page.status == 200
        return csrf_token(await page.text())
