"""Who works which case: claiming a support request or a complaint, or assigning it to a
colleague who may work that kind of case (hand-offs have theirs in inbox.py). The inbox's
filters (mine / my domains / unassigned / all) read the same `assigned_to`; every change is
audited with the case."""

from __future__ import annotations

from aiohttp import web

from bot.i18n import N_
from bot.storage.references import COMPLAINT_PREFIX, REQUEST_PREFIX, typed_reference
from bot.users import StaffMember

from .casework_common import back_to, colleagues
from .context import console, staff, translator_for
from .permissions import COMPLAINTS, REQUESTS

# kind -> (reference prefix, the roles that work it, the page of one case)
KINDS = {
    "request": (REQUEST_PREFIX, REQUESTS, "/console/requests/"),
    "complaint": (COMPLAINT_PREFIX, COMPLAINTS, "/console/complaints/"),
}
NOT_A_COLLEAGUE = N_("Choose a colleague from the list.")


async def colleagues_by_kind(request: web.Request) -> dict[str, list[StaffMember]]:
    """Whom each kind of work can go to: hand-offs to anyone who works cases, requests and
    complaints to those whose role works them."""
    everyone = await colleagues(request)
    return {
        "handoff": everyone,
        **{kind: [m for m in everyone if m.role in roles] for kind, (_, roles, _) in KINDS.items()},
    }


def _reference(request: web.Request, kind: str) -> str:
    reference = typed_reference(KINDS[kind][0], request.match_info["reference"])
    if reference is None:
        raise web.HTTPNotFound()
    return reference


async def _assign_to(request: web.Request, kind: str, wanted: str | None) -> web.Response:
    form = await request.post()
    reference = _reference(request, kind)
    member = staff(request)
    await console(request).store.casework.assign_case(kind, reference, wanted, member.email)
    raise web.HTTPFound(back_to(form.get("next"), KINDS[kind][2] + reference))


def _claim(kind: str) -> web.RouteDef:
    async def claim(request: web.Request) -> web.Response:
        return await _assign_to(request, kind, staff(request).email)

    prefix = KINDS[kind][2].removeprefix("/console")
    return web.post(prefix + "{reference}/claim", claim)


def _assign(kind: str) -> web.RouteDef:
    async def assign(request: web.Request) -> web.Response:
        form = await request.post()
        wanted = str(form.get("staff", "")).strip().lower() or None
        allowed = {m.email for m in await colleagues(request, KINDS[kind][1])}
        if wanted is not None and wanted not in allowed:
            t = translator_for(request)
            raise web.HTTPBadRequest(text=t.gettext(NOT_A_COLLEAGUE))
        return await _assign_to(request, kind, wanted)

    prefix = KINDS[kind][2].removeprefix("/console")
    return web.post(prefix + "{reference}/assign", assign)


def assignment_routes() -> list[web.RouteDef]:
    return [route for kind in KINDS for route in (_claim(kind), _assign(kind))]
