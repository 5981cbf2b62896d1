"""The quality officer's follow-ups of low satisfaction ratings (service recovery), shown in
the inbox with the rating and the beneficiary's comment, and closed there once the
beneficiary has been contacted. Who may see them is the close route's line in
permissions.py: the comment is the beneficiary's own words, and each showing is audited."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.i18n import N_
from bot.storage.audit import Subject
from bot.storage.casework import NotAllowed

from .casework_common import back_to, domain_label, int_id
from .context import audit, console, staff, translator_for
from .permissions import may

CLOSE_ROUTE = "/console/follow-ups/{id}/close"
# Translators: the kinds of closed case a beneficiary rated, in the inbox's follow-ups.
CASE_LABELS = {
    "request": N_("Support request"),
    "complaint": N_("Complaint"),
    "handoff": N_("Conversation with staff"),
}


async def follow_up_values(request: web.Request) -> dict[str, Any]:
    """The open follow-ups for the inbox page, if the signed-in role works them."""
    member = staff(request)
    if not may(member.role, "POST", CLOSE_ROUTE):
        return {"follow_ups": None}
    ctx = console(request)
    found = await ctx.store.survey_follow_ups.open_follow_ups()
    language = translator_for(request).language
    if found:
        await audit(
            request,
            "survey_follow_ups.viewed",
            Subject("staff_task"),
            {"references": [f.reference for f in found], "fields": ["rating", "comment"]},
        )
    return {
        "follow_ups": [
            {"f": f, "domain": domain_label(ctx.profile, f.domain, language)} for f in found
        ],
        "case_labels": CASE_LABELS,
        "scale_max": ctx.profile.survey.scale_max,
    }


async def close_follow_up(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        await console(request).store.survey_follow_ups.close(int_id(request), staff(request).email)
    except NotAllowed:
        pass  # closed already, or no follow-up: back to the inbox, which shows what is open
    raise web.HTTPFound(back_to(form.get("next")))


def follow_up_routes() -> list[web.RouteDef]:
    return [web.post("/follow-ups/{id}/close", close_follow_up)]
