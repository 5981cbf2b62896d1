"""The administrators' pages: staff accounts (list, add, disable, change role) and the audit
log (filter by who, what and when)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.i18n import N_
from bot.users import (
    ROLES,
    UserExistsError,
    add_user,
    disable_user,
    enable_user,
    find_staff,
    list_staff,
    set_role,
)

from .context import client_address, console, staff
from .rendering import render

AUDIT_ROWS = 200

# Translators: messages of the console's staff-accounts page.
ADDED = N_("The account was created.")
SAVED = N_("The change was saved.")
EXISTS = N_("An account with this email already exists.")
BAD_ACCOUNT = N_(
    "Please check the form: a valid email, a name, a role, and a password of at least 10 "
    "characters."
)
NOT_YOURSELF = N_("You cannot disable your own account or change your own role.")
BAD_DATE = N_("Please write dates as year-month-day, e.g. 2026-12-01.")
NOTICES = {"added": ADDED, "saved": SAVED}


async def users_page(request: web.Request) -> web.Response:
    notice = NOTICES.get(request.query.get("done", ""))
    return await _users(request, notice=notice)


async def _users(
    request: web.Request, error: str | None = None, notice: str | None = None, status: int = 200
) -> web.Response:
    accounts = await list_staff(console(request).store)
    values = {"accounts": accounts, "roles": ROLES, "error": error, "notice": notice}
    return render(request, "users.html", values, status=status)


async def add_account(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    me = staff(request)
    try:
        await add_user(
            console(request).store,
            str(form.get("email", "")),
            str(form.get("name", "")),
            str(form.get("role", "")),
            str(form.get("password", "")),
            actor=me.email,
            address=client_address(request),
        )
    except UserExistsError:
        return await _users(request, error=EXISTS, status=400)
    except ValueError:
        return await _users(request, error=BAD_ACCOUNT, status=400)
    raise web.HTTPFound("/console/users?done=added")


async def change_account(request: web.Request) -> web.StreamResponse:
    """One change to an account: disable, enable, or a new role."""
    form = await request.post()
    me = staff(request)
    ctx = console(request)
    try:
        target = await find_staff(ctx.store, int(request.match_info["id"]))
    except ValueError:
        target = None
    if target is None:
        raise web.HTTPNotFound()
    action = str(form.get("action", ""))
    if target.id == me.id and action in ("disable", "role"):
        return await _users(request, error=NOT_YOURSELF, status=400)
    who, address = me.email, client_address(request)
    if action == "disable":
        await disable_user(ctx.store, target.email, who, address)
    elif action == "enable":
        await enable_user(ctx.store, target.email, who, address)
    elif action == "role" and str(form.get("role", "")) in ROLES:
        await set_role(ctx.store, target.email, str(form.get("role")), who, address)
    else:
        return await _users(request, error=BAD_ACCOUNT, status=400)
    raise web.HTTPFound("/console/users?done=saved")


async def audit_page(request: web.Request) -> web.Response:
    query = request.query
    tz = console(request).profile.tz
    filters = {name: query.get(name, "").strip() for name in ("actor", "action", "from", "to")}
    try:
        since = _day_start(filters["from"], tz)
        until = _day_start(filters["to"], tz, next_day=True)
    except ValueError:
        values = {"entries": [], "filters": filters, "error": BAD_DATE}
        return render(request, "audit.html", values, status=400)
    entries = await console(request).store.audit.search(
        actor=filters["actor"].lower() or None,
        action=filters["action"] or None,
        since=since,
        until=until,
        limit=AUDIT_ROWS,
    )
    return render(request, "audit.html", {"entries": entries, "filters": filters, "error": None})


def _day_start(value: str, tz: ZoneInfo, next_day: bool = False) -> datetime | None:
    """The start of that local day (or of the next one, for an inclusive end date)."""
    if not value:
        return None
    day = date.fromisoformat(value)
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=tz)


def admin_routes() -> list[web.RouteDef]:
    return [
        web.get("/users", users_page),
        web.post("/users", add_account),
        web.post("/users/{id}", change_account),
        web.get("/audit", audit_page),
    ]
