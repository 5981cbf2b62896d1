"""The staff console at /console/: server-rendered pages for the people who answer
beneficiaries (officers, researchers, the quality officer, managers, administrators).

It is an aiohttp sub-application mounted by bot/app/web.py (``console_app(context)``), so
its gate (bot/console/guard.py) runs on console requests only. Layers: it sits under
bot.app and above worker, so it may use the core, the storage and the worker's queues.

How a page is written (follow this for every new page):

1. The handler is a plain ``async def page(request: web.Request) -> web.Response`` in a
   module of this package, registered in that module's list of routes (paths relative to
   /console: ``web.get("/requests", page)``), which ``console_app`` adds.
2. Its route gets a line in bot/console/permissions.py's ``ROUTE_ROLES`` (method and full
   path -> roles). Without one, nobody can open it, and tests/test_console_access.py fails.
   The guard has already checked the role and, on POST/PUT/PATCH/DELETE, the CSRF token
   before the handler runs: the handler does not check them again.
3. What it reaches (bot/console/context.py): ``staff(request)`` is the signed-in
   ``StaffMember`` (id, email, name, role, language); ``console(request)`` the shared
   ``ConsoleContext`` (``.store``: every kind of record, ``.redis``, ``.profile``);
   ``translator_for(request)`` the staff member's ``Translator`` (gettext, dates in Hijri and
   Gregorian) for text built in Python.
4. It renders with ``render(request, "name.html", {...})`` (bot/console/rendering.py): the
   template extends ``base.html`` (``{% extends "base.html" %}``, blocks ``title`` and
   ``content``), writes every sentence as ``{{ _("...") }}`` or ``{% trans %}`` (then add the
   msgid by hand to both locales/*/tawasul.po), shows dates with ``|date`` / ``|datetime``,
   and puts ``{{ csrf_input() }}`` in every form (after ``{% from "macros.html" import
   csrf_input with context %}`` at the top of the template). Scripts fetching with POST
   send the token in an ``X-CSRF-Token`` header (``<meta name="csrf-token">`` holds it).
5. Seeing a beneficiary's personal data or changing a record is audited:
   ``await audit(request, "contact.viewed", Subject("contact", contact_id), {"fields":
   [...]})`` (``Subject`` from bot.storage.audit). Details name fields, never their values.
6. Bad input answers 400 with a message in the staff member's language; a missing record
   raises ``web.HTTPNotFound``; after a successful POST, redirect (``web.HTTPFound``).
"""

from __future__ import annotations

from aiohttp import web

from .admin import admin_routes
from .context import CONSOLE, SESSIONS, THROTTLE, ConsoleContext
from .errors import errors
from .guard import guard
from .login import login_page, login_submit, logout, switch_language
from .pages import page_routes
from .rendering import STATIC, setup_templates
from .sessions import Sessions
from .throttle import LoginThrottle

__all__ = ["PREFIX", "ConsoleContext", "console_app"]

PREFIX = "/console"


def console_app(context: ConsoleContext) -> web.Application:
    """The console as a sub-application, to mount at ``PREFIX``."""
    app = web.Application(middlewares=[errors, guard])
    app[CONSOLE] = context
    app[SESSIONS] = Sessions(context.redis)
    app[THROTTLE] = LoginThrottle(context.redis, context.namespace)
    setup_templates(app)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", switch_language)
    app.router.add_routes(page_routes())
    app.router.add_routes(admin_routes())
    app.router.add_static("/static", STATIC)
    return app
