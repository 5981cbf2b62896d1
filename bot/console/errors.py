"""The console never answers a stack trace. A handler that fails unexpectedly answers, in
the staff member's language, a small JSON body to the page's scripts (the inbox's polling)
and a plain error page to the browser: 503 when the database or Redis cannot be reached
(try again shortly), 500 for anything else. The failure itself goes to the log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.exceptions
import sqlalchemy.exc
from aiohttp import web

from bot.i18n import N_

from .context import translator_for
from .guard import SECURITY_HEADERS
from .rendering import render

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Routes a script reads (they answer JSON); any request asking for JSON gets JSON too.
JSON_PATHS = frozenset({"/console/inbox/items"})
# Failures of a service the console depends on: passing, so "try again" is the advice.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    asyncio.TimeoutError,
    ConnectionError,
)
# Translators: the console's answers when something fails on the server's side.
ERROR_TITLE = N_("Something went wrong")
UNAVAILABLE = N_(
    "The console cannot reach its records just now. Please try again in a moment; if this "
    "goes on, tell an administrator."
)
FAILED = N_(
    "Something went wrong on our side, and this was not done. Please try again; if this goes "
    "on, tell an administrator."
)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("console: unhandled error on %s %s", request.method, request.path)
        unavailable = isinstance(exc, UNAVAILABLE_ERRORS)
        return _answer(request, 503 if unavailable else 500, UNAVAILABLE if unavailable else FAILED)


def _wants_json(request: web.Request) -> bool:
    return request.path in JSON_PATHS or "application/json" in request.headers.get("Accept", "")


def _answer(request: web.Request, status: int, reason: str) -> web.Response:
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    if status == 503:
        headers["Retry-After"] = "5"
    text = translator_for(request).gettext(reason)
    if _wants_json(request):
        return web.json_response({"error": text, "status": status}, status=status, headers=headers)
    try:
        response = render(request, "error.html", {"reason": reason}, status=status)
    except Exception:  # the page itself cannot be drawn: the sentence alone
        log.exception("console: the error page failed too")
        return web.Response(text=text, status=status, headers=headers)
    response.headers.update(headers)
    return response
