"""Small things the work pages share: safe redirects back, labels of the profile's ids, and
the colleagues one may assign work to."""

from __future__ import annotations

from aiohttp import web

from bot.profile import Profile
from bot.users import StaffMember, list_staff

from .context import console
from .permissions import CASEWORK

HOME = "/console/"


def back_to(form_value: object, default: str = HOME) -> str:
    """Where to go after a POST: a console path the form named, never another site."""
    back = str(form_value or default)
    if not back.startswith("/console/") or "//" in back or "\\" in back:
        return default
    return back


def domain_of(profile: Profile, kind: str, type_id: str, domain: str | None) -> str | None:
    """The domain of a piece of work: a hand-off's own, a request type's or a category's."""
    if domain:
        return domain
    if kind == "request":
        found = profile.get_request_type(type_id)
        return found.domain if found else None
    if kind == "complaint":
        category = profile.get_complaint_category(type_id)
        return category.domain if category else None
    return None


def domains_of(profile: Profile, email: str) -> set[str]:
    """The domains whose contact officer this staff member is (the profile names them)."""
    return {d.id for d in profile.domains if d.officer.email.lower() == email.lower()}


def domain_label(profile: Profile, domain_id: str | None, language: str) -> str:
    found = profile.get_domain(domain_id) if domain_id else None
    return found.label.get(language) if found else (domain_id or "")


async def colleagues(request: web.Request, roles: frozenset[str] = CASEWORK) -> list[StaffMember]:
    """Active staff who work cases (of these roles), to assign work to."""
    return [m for m in await list_staff(console(request).store) if m.active and m.role in roles]


def int_id(request: web.Request, name: str = "id") -> int:
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 < value < 2**31:
        raise web.HTTPNotFound()
    return value
