"""Who may open what in the staff console: every registered console route, tried by every
role and by an anonymous visitor, answers as bot/console/permissions.py's table says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource

from bot.console import permissions
from bot.console.permissions import ANONYMOUS, ROUTE_ROLES
from bot.users import ROLES
from tests.console_helpers import (
    ConsoleServer,
    console_server,
    csrf_token,
    email_of,
    page_token,
    sign_in,
)

SAMPLE_VALUES = {"{id}": "1", "{reference}": "R-123456789", "{key}": "0" * 64}
# Last: the language switch changes the next pages' language, and sign-out ends the session.
LAST = [("POST", "/console/language"), ("POST", "/console/logout")]


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as server:
        yield server


def console_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path) of every route the console registered (HEAD is GET's)."""
    found = set()
    for resource in app.router.resources():
        if isinstance(resource, PrefixedSubAppResource) and resource.get_info()["prefix"] == (
            "/console"
        ):
            for route in resource.get_info()["app"].router.routes():
                if route.method != "HEAD":
                    found.add((route.method, route.resource.canonical))
    assert found, "the console is not mounted"
    order = {key: index for index, key in enumerate(LAST)}
    return sorted(found, key=lambda key: (order.get(key, -1), key))


def concrete(path: str) -> str:
    if path == "/console/static":
        return "/console/static/console.css"
    for placeholder, value in SAMPLE_VALUES.items():
        path = path.replace(placeholder, value)
    return path


async def test_every_route_has_an_entry_and_every_entry_a_route(console: ConsoleServer) -> None:
    registered = set(console_routes(console.app))
    assert registered - set(ROUTE_ROLES) == set(), "add these routes to permissions.ROUTE_ROLES"
    assert set(ROUTE_ROLES) - registered == set(), "these entries name no route"


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
async def test_each_role_gets_what_the_table_gives(console: ConsoleServer, role: str) -> None:
    async with console.client() as client:
        if role != ANONYMOUS:
            signed_in = await sign_in(console, client, email_of(role))
            assert signed_in.status == 302
            assert signed_in.headers["Location"] == "/console/"
            token = await page_token(console, client)
        else:
            async with client.get(console.url("/console/login")) as login:
                token = csrf_token(await login.text())
        for method, path in console_routes(console.app):
            allowed = role in ROUTE_ROLES[(method, path)]
            status, location = await _try(console, client, method, concrete(path), token)
            where = f"{role} {method} {path}: {status}"
            if method == "GET" and allowed:
                expected_ok = status == 200 or (path == "/console/login" and status == 302)
                # A record page of a record that does not exist is let through, then 404.
                expected_ok = expected_ok or (status == 404 and "{" in path)
                assert expected_ok, where
            elif method == "GET" and role == ANONYMOUS:
                assert (status, location) == (302, "/console/login"), where
            elif allowed:
                assert status != 403, where
            else:
                assert status == 403, where


async def _try(
    console: ConsoleServer, client: aiohttp.ClientSession, method: str, path: str, token: str
) -> tuple[int, str | None]:
    data = {"csrf_token": token, "language": "en", "next": "/console/", "text": "hello"}
    async with client.request(
        method, console.url(path), data=data if method != "GET" else None, allow_redirects=False
    ) as response:
        await response.read()
        return response.status, response.headers.get("Location")


async def test_a_route_without_an_entry_is_refused_to_everyone(console: ConsoleServer) -> None:
    """The table is checked on every route: one it does not name opens for nobody, not even
    an administrator."""
    assert permissions.allowed_roles("GET", "/console/secret") == frozenset()
    async with console.client() as client:
        await sign_in(console, client, email_of("admin"))
        async with client.get(console.url("/console/static/../../etc/passwd")) as response:
            assert response.status in (403, 404)
        async with client.get(console.url("/console/no-such-page")) as response:
            assert response.status == 404
        async with client.get(console.url("/console"), allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/console/"


async def test_officer_is_refused_manager_and_admin_pages_in_arabic(
    console: ConsoleServer,
) -> None:
    async with console.client() as client:
        await sign_in(console, client, email_of("officer"))
        for path in ("/console/broadcasts", "/console/reports", "/console/users", "/console/audit"):
            async with client.get(console.url(path)) as response:
                assert response.status == 403, path
                assert "دورك في النظام لا يتيح لك هذه الصفحة" in await response.text()
