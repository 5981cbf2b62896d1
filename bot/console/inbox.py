"""The inbox (/console/): open hand-offs, open complaints and requests waiting for staff, by
domain, each with the time left against its promise; filters mine / my domains / unassigned /
all; claim, assign to a colleague, close. A small script (static/inbox.js) asks
/console/inbox/items every few seconds and swaps the rows in, so new work shows without a
reload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.i18n import N_
from bot.models import utcnow
from bot.storage.casework import NotAllowed
from bot.storage.casework_reads import InboxItem
from bot.storage.surveys import SurveySchedule

from .assignment import NOT_A_COLLEAGUE, colleagues_by_kind
from .beneficiary import beneficiary_translator, notice, our_name_for, push
from .casework_common import back_to, colleagues, domain_label, domain_of, domains_of, int_id
from .context import console, staff, translator_for
from .follow_ups import follow_up_values
from .rendering import render, render_fragment
from .sla import PAUSED, add_working_hours, time_left

FILTERS = ("domains", "mine", "unassigned", "all")
# Translators: the inbox's filters.
FILTER_LABELS = {
    "domains": N_("My domains"),
    "mine": N_("Mine"),
    "unassigned": N_("Unassigned"),
    "all": N_("All"),
}
# Translators: the kinds of work in the inbox.
KIND_LABELS = {
    "handoff": N_("Conversation with staff"),
    "complaint": N_("Complaint"),
    "request": N_("Support request"),
}
# Translators: told to the beneficiary, in their language, when staff close the conversation
# they had taken over; from then on the bot answers again.
HANDOFF_CLOSED = N_(
    "Our staff have finished with this conversation. Thank you for your patience. I am here "
    "again to help you: write “menu” to see what I can do for you."
)

# The profile's approved template that says so past WhatsApp's window ({{1}}: our name).
CLOSED_TEMPLATE = "handoff_closed"


@dataclass(frozen=True)
class Row:
    item: InboxItem
    domain: str | None
    domain_label: str
    due_at: datetime
    left: str
    overdue: bool


def _rows(request: web.Request, items: list[InboxItem], chosen: str) -> list[Row]:
    ctx = console(request)
    profile = ctx.profile
    member = staff(request)
    t = translator_for(request)
    mine = domains_of(profile, member.email)
    now = utcnow()
    rows = []
    for item in items:
        domain = domain_of(profile, item.kind, item.type_id, item.domain)
        if chosen == "mine" and item.assigned_to != member.email:
            continue
        if chosen == "domains" and domain not in mine:
            continue
        if chosen == "unassigned" and item.assigned_to is not None:
            continue
        due = item.due_at or add_working_hours(
            profile, item.opened_at, profile.sla.handoff_response_hours
        )
        left, overdue = time_left(t, due, now)
        if item.kind == "request" and item.status == "needs_info":  # its clock is stopped
            left, overdue = t.gettext(PAUSED), False
        rows.append(
            Row(item, domain, domain_label(profile, domain, t.language), due, left, overdue)
        )
    # The most pressing first: urgent, then the nearest deadline.
    return sorted(rows, key=lambda row: (not row.item.urgent, row.due_at))


def _chosen_filter(request: web.Request) -> str:
    asked = request.query.get("filter")
    if asked in FILTERS:
        return asked
    # A contact officer starts with their own domains; everyone else with everything.
    return "domains" if domains_of(console(request).profile, staff(request).email) else "all"


async def _values(request: web.Request) -> dict[str, Any]:
    chosen = _chosen_filter(request)
    items = await console(request).store.casework_reads.inbox()
    return {
        "rows": _rows(request, items, chosen),
        "chosen": chosen,
        "filters": FILTERS,
        "filter_labels": FILTER_LABELS,
        "kind_labels": KIND_LABELS,
        "colleagues": await colleagues_by_kind(request),
        "profile": console(request).profile,
    }


async def inbox_page(request: web.Request) -> web.Response:
    return render(
        request, "inbox.html", {**await _values(request), **await follow_up_values(request)}
    )


async def inbox_items(request: web.Request) -> web.Response:
    """The rows alone, for the page's script; no-store like every console answer."""
    values = await _values(request)
    html = render_fragment(request, "inbox_rows.html", values)
    return web.json_response(
        {"html": html, "count": len(values["rows"])}, headers={"Cache-Control": "no-store"}
    )


async def claim(request: web.Request) -> web.Response:
    form = await request.post()
    member = staff(request)
    await console(request).store.casework.assign_handoff(
        int_id(request), member.email, member.email
    )
    raise web.HTTPFound(back_to(form.get("next")))


async def assign(request: web.Request) -> web.Response:
    form = await request.post()
    member = staff(request)
    wanted = str(form.get("staff", "")).strip().lower()
    emails = {m.email for m in await colleagues(request)}
    if wanted and wanted not in emails:
        t = translator_for(request)
        raise web.HTTPBadRequest(text=t.gettext(NOT_A_COLLEAGUE))
    await console(request).store.casework.assign_handoff(
        int_id(request), wanted or None, member.email
    )
    raise web.HTTPFound(back_to(form.get("next")))


async def close(request: web.Request) -> web.Response:
    """Close the hand-off: the bot answers again, and the beneficiary is told so."""
    form = await request.post()
    handoff_id = int_id(request)
    ctx = console(request)
    reads = ctx.store.casework_reads
    conversation_id = await reads.conversation_of_handoff(handoff_id)
    if conversation_id is None:
        raise web.HTTPNotFound()
    view = await reads.conversation(conversation_id)
    assert view is not None
    t = beneficiary_translator(request, view.language)
    variables = {"1": our_name_for(request, CLOSED_TEMPLATE)}
    text = t.gettext(HANDOFF_CLOSED)
    told = notice(request, conversation_id, view.route, text, CLOSED_TEMPLATE, variables)
    try:
        message_id = await ctx.store.casework.close_handoff(
            handoff_id, staff(request).email, told, SurveySchedule.from_profile(ctx.profile)
        )
    except NotAllowed:
        raise web.HTTPFound(back_to(form.get("next"))) from None  # closed already
    await push(request, message_id)
    raise web.HTTPFound(back_to(form.get("next")))


def inbox_routes() -> list[web.RouteDef]:
    return [
        web.get("/", inbox_page),
        web.get("/inbox/items", inbox_items),
        web.post("/handoffs/{id}/claim", claim),
        web.post("/handoffs/{id}/assign", assign),
        web.post("/handoffs/{id}/close", close),
    ]
