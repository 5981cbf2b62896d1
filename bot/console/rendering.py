"""Templates: aiohttp-jinja2 over bot/console/templates, in the staff member's language.

Every render gets, from the request: `_`/`gettext`/`ngettext` (the staff member's catalog,
also used by ``{% trans %}``), `t` (the Translator: numbers, dates), `lang`, `dir`, `staff`,
`csrf_token`, `may(method, path)` (the permission table, to show only usable links) and
the association's `org_name`. Filters: ``date`` and ``datetime`` show Hijri beside
Gregorian in the profile's time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.i18n import LANGUAGES, N_

from . import permissions
from .context import LOGIN_CSRF_KEY, STAFF_KEY, console, current_session, translator_for

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

# Translators: staff roles in the console.
ROLE_NAMES = {
    "officer": N_("Beneficiary relations officer"),
    "researcher": N_("Social researcher"),
    "quality": N_("Quality officer"),
    "manager": N_("Manager"),
    "admin": N_("Administrator"),
}
# The sections in the navigation, each shown to the roles that may open it.
NAV = (
    ("/console/", N_("Inbox")),
    ("/console/requests", N_("Support requests")),
    ("/console/complaints", N_("Complaints")),
    ("/console/contacts", N_("Beneficiaries")),
    ("/console/questions", N_("Unanswered questions")),
    ("/console/broadcasts", N_("Broadcasts")),
    ("/console/reports", N_("Reports")),
    ("/console/users", N_("Staff accounts")),
    ("/console/audit", N_("Audit log")),
)


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.filters["date"] = _date_filter
    env.filters["datetime"] = _datetime_filter


def _request_context(request: web.Request) -> dict[str, Any]:
    t = translator_for(request)
    member = request.get(STAFF_KEY)
    session = current_session(request)
    role = member.role if member is not None else permissions.ANONYMOUS
    profile = console(request).profile
    return {
        "_": t.gettext,
        "gettext": t.gettext,
        "ngettext": t.ngettext,
        "t": t,
        "lang": t.language,
        "dir": t.direction,
        "staff": member,
        "csrf_token": session.csrf_token if session else request.get(LOGIN_CSRF_KEY, ""),
        "may": lambda method, path: permissions.may(role, method, path),
        "org_name": profile.name.get(t.language),
        "other_lang": next(code for code in LANGUAGES if code != t.language),
        "current_path": request.path,
        "role_names": ROLE_NAMES,
        "nav": NAV,
        "today": datetime.now(UTC).astimezone(profile.tz).date(),
        "timezone": profile.timezone,
    }


@jinja2.pass_context
def _date_filter(context: Any, value: date | None) -> str:
    return "" if value is None else context["t"].format_date(value)


@jinja2.pass_context
def _datetime_filter(context: Any, value: datetime | None) -> str:
    if value is None:
        return ""
    return context["t"].format_datetime(value, context["timezone"])


def render(
    request: web.Request, template: str, values: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    """A page from `template` with `values` on top of the request context above."""
    values = {**_request_context(request), **(values or {})}
    response = aiohttp_jinja2.render_template(template, request, values, status=status)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def render_fragment(request: web.Request, template: str, values: dict[str, Any]) -> str:
    """Part of a page as a string (what a script swaps in), with the same context."""
    return aiohttp_jinja2.render_string(template, request, {**_request_context(request), **values})
