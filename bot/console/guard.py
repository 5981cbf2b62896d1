"""The console's one gate: every request passes here before its handler.

In order: find the session (cookie -> Redis) and the staff member behind it (an account
disabled since is signed out); check the route against the permission table (anonymous
visitors are sent to the sign-in page, anyone else without the right gets 403); check the
CSRF token of every state-changing request (403 without the right one). Responses get
headers that keep the console out of frames and caches.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.i18n import N_
from bot.users import get_staff

from . import permissions
from .context import SESSION_KEY, SESSIONS, STAFF_KEY, console
from .rendering import render
from .sessions import COOKIE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

LOGIN_PATH = "/console/login"
LOGIN_CSRF_COOKIE = "tawasul_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def route_path(request: web.Request) -> str | None:
    """The matched route as registered ("/console/requests/{reference}"), None when no route
    matched (aiohttp then answers 404 or 405 itself)."""
    if request.match_info.http_exception is not None:
        return None
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await _guarded(request, handler)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = route_path(request)
    if path is None:
        return await handler(request)
    await _sign_in_from_cookie(request)
    member = request.get(STAFF_KEY)
    role = member.role if member is not None else permissions.ANONYMOUS
    if not permissions.may(role, request.method, path):
        if member is None and request.method in ("GET", "HEAD"):
            raise web.HTTPFound(LOGIN_PATH)
        return forbidden(request, ROLE_REFUSED)
    if request.method in STATE_CHANGING and not await _csrf_ok(request, path):
        return forbidden(request, FORM_REFUSED)
    return await handler(request)


async def _sign_in_from_cookie(request: web.Request) -> None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return
    sessions = request.config_dict[SESSIONS]
    session = await sessions.load(cookie)
    if session is None:
        return
    member = await get_staff(console(request).store, session.staff_id)
    if member is None or member.password_stamp != session.password_stamp:
        # Disabled, removed, or given a new password since: the session ends.
        await sessions.end(session)
        return
    request[SESSION_KEY] = session
    request[STAFF_KEY] = member


async def _csrf_ok(request: web.Request, path: str) -> bool:
    session = request.get(SESSION_KEY)
    expected = [session.csrf_token] if session is not None else []
    if path == LOGIN_PATH:  # before any session, the sign-in form's own token
        expected.append(request.cookies.get(LOGIN_CSRF_COOKIE, ""))
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD, "")
        given = value if isinstance(value, str) else ""
    return bool(given) and any(
        token and hmac.compare_digest(given.encode(), token.encode()) for token in expected
    )


# Translators: the console's refusals (403).
ROLE_REFUSED = N_(
    "Your role does not give access to this page or action. If you need it, ask an administrator."
)
FORM_REFUSED = N_(
    "This form has expired or did not come from the console. Go back, reload the page and try "
    "again."
)


def forbidden(request: web.Request, reason: str = ROLE_REFUSED) -> web.Response:
    """403 in the staff member's language."""
    return render(request, "forbidden.html", {"reason": reason}, status=403)
