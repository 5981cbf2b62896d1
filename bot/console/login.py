"""Sign-in, sign-out and the staff member's language switch."""

from __future__ import annotations

import re
import secrets

from aiohttp import web

from bot.i18n import LANGUAGES, N_
from bot.users import authenticate, set_language

from .context import (
    LOGIN_CSRF_KEY,
    SESSIONS,
    THROTTLE,
    audit,
    client_address,
    console,
    current_session,
    staff,
)
from .guard import LOGIN_CSRF_COOKIE, LOGIN_PATH
from .rendering import render
from .sessions import COOKIE, IDLE_SECONDS

HOME = "/console/"
# Never which of the two was wrong: that would tell whether an account exists.
WRONG = N_("The email or the password is not right. Please try again.")
TOO_MANY = N_("Too many sign-in attempts. Please wait a minute, then try again.")
LOGIN_TOKEN_SECONDS = 60 * 60
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{40,64}")  # what secrets.token_urlsafe(32) makes


async def login_page(request: web.Request) -> web.StreamResponse:
    if current_session(request) is not None:
        raise web.HTTPFound(HOME)
    return _login_form(request)


def _login_form(
    request: web.Request, error: str | None = None, status: int = 200, email: str = ""
) -> web.Response:
    """The form, with a token for it in a cookie of its own (there is no session yet); the
    browser's token is kept if it has one, so two open sign-in tabs both work."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not TOKEN_SHAPE.fullmatch(token):
        token = secrets.token_urlsafe(32)
    request[LOGIN_CSRF_KEY] = token
    response = render(request, "login.html", {"error": error, "email": email}, status=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_TOKEN_SECONDS,
        path=LOGIN_PATH,
        httponly=True,
        samesite="Lax",
        secure=console(request).secure_cookies,
    )
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    email = str(form.get("email", "")).strip()[:254]
    password = str(form.get("password", ""))[:1024]
    ctx = console(request)
    address = client_address(request)
    throttle = request.config_dict[THROTTLE]
    actor = email.lower() or "-"
    if await throttle.refused(email, address):
        await ctx.store.audit.record(actor, "staff.sign_in_refused", None, None, address)
        return _login_form(request, error=TOO_MANY, status=429, email=email)
    member = await authenticate(ctx.store, email, password) if email and password else None
    if member is None:
        await throttle.failed(email, address)
        await ctx.store.audit.record(actor, "staff.sign_in_failed", None, None, address)
        return _login_form(request, error=WRONG, status=401, email=email)
    await throttle.succeeded(email)
    sessions = request.config_dict[SESSIONS]
    previous = current_session(request)
    if previous is not None:  # signing in again (perhaps as someone else) ends the old one
        await sessions.end(previous)
    cookie, _session = await sessions.start(member.id, member.password_stamp)
    await ctx.store.audit.record(member.email, "staff.signed_in", None, None, address)
    response = web.HTTPFound(HOME)
    _set_session_cookie(request, response, cookie)
    response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    raise response


def _set_session_cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=IDLE_SECONDS * 48,  # the browser may keep it; Redis decides when it ends
        path="/console",
        httponly=True,
        samesite="Lax",
        secure=console(request).secure_cookies,
    )


async def logout(request: web.Request) -> web.StreamResponse:
    session = current_session(request)
    if session is not None:
        await audit(request, "staff.signed_out")
        await request.config_dict[SESSIONS].end(session)
    response = web.HTTPFound(LOGIN_PATH)
    response.del_cookie(COOKIE, path="/console")
    raise response


async def switch_language(request: web.Request) -> web.StreamResponse:
    """The staff member's own language for the console, kept on their account."""
    form = await request.post()
    language = str(form.get("language", ""))
    if language not in LANGUAGES:
        raise web.HTTPBadRequest(text="language must be one of: " + ", ".join(LANGUAGES))
    await set_language(console(request).store, staff(request).id, language)
    back = str(form.get("next", HOME))
    if not back.startswith("/console/") or "//" in back or "\\" in back:
        back = HOME
    raise web.HTTPFound(back)
