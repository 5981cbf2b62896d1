"""One beneficiary's conversation (/console/conversations/{id}): the whole history across
every channel in one timeline (text, buttons pressed, media, the delivery status of each
reply), the journey the bot is in, private notes between staff, and the reply box.

A reply goes to the address the beneficiary last wrote from, through the bot's own delivery
path. On WhatsApp the 24-hour window is shown with the time left; once it has closed the box
offers the profile's approved templates instead of free text, so nothing is sent that the
provider would refuse later (bot/whatsapp_window.py)."""

from __future__ import annotations

from aiohttp import web

from bot.i18n import N_
from bot.storage.audit import Subject
from bot.storage.casework import NO_TEMPLATE
from bot.storage.casework_reads import ConversationView
from bot.storage.inbound_rows import MAIN_MENU

from .beneficiary import our_name_for, outgoing, push, window_of
from .casework_common import back_to, int_id
from .context import audit, console, staff, translator_for
from .rendering import render
from .sla import time_left

MAX_REPLY = 4000
MAX_NOTE = 4000
# Translators: the journeys of the bot, shown in a conversation in the console.
JOURNEYS = {
    None: N_("Main menu"),
    MAIN_MENU: N_("Main menu"),
    "support_request": N_("Support request form"),
    "complaint": N_("Complaint"),
    "request_status": N_("Request status"),
    "handoff": N_("Talk to staff"),
    "inquiries": N_("Questions and answers"),
    "privacy": N_("Privacy and my data"),
    "updates": N_("Consent to updates"),
    "link_phone": N_("Linking a phone number"),
}
# Translators: delivery statuses of a message, in the console's timeline.
STATUSES = {
    "received": N_("received"),
    "handled": N_("answered by the bot"),
    "queued": N_("waiting to be sent"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "read": N_("read"),
    "failed": N_("not delivered"),
    "unknown": N_("unknown"),
}
# Translators: why a message to the beneficiary was kept as not sent, in the console.
NOT_SENT_REASONS = {
    NO_TEMPLATE: N_(
        "not sent: WhatsApp's 24-hour window had closed and the profile has no approved "
        "template for this notice"
    ),
}
EMPTY_REPLY = N_("Write the reply before sending it.")
WINDOW_CLOSED = N_(
    "WhatsApp's 24-hour window has closed: only an approved template can be sent now. Choose "
    "one below."
)
UNKNOWN_TEMPLATE = N_("Choose one of the approved templates.")
NO_ROUTE = N_("This beneficiary has no address to answer on yet.")


async def _view(request: web.Request) -> ConversationView:
    view = await console(request).store.casework_reads.conversation(int_id(request))
    if view is None:
        raise web.HTTPNotFound()
    return view


async def _page(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    view = await _view(request)
    t = translator_for(request)
    window = window_of(view.route)
    left = None
    if window is not None and window.open and window.closes_at is not None:
        left = time_left(t, window.closes_at, window.closes_at - window.remaining)[0]
    await audit(
        request,
        "conversation.viewed",
        Subject("contact", view.contact_id),
        {"fields": ["messages"]},
    )
    open_handoff = next((h for h in view.handoffs if h.status == "open"), None)
    return render(
        request,
        "conversation.html",
        {
            "view": view,
            "window": window,
            "window_left": left,
            "templates": sorted(console(request).profile.templates),
            "journey": JOURNEYS.get(view.flow, view.flow or ""),
            "journeys": JOURNEYS,
            "statuses": STATUSES,
            "not_sent_reasons": NOT_SENT_REASONS,
            "open_handoff": open_handoff,
            "error": error,
        },
        status=status,
    )


async def conversation_page(request: web.Request) -> web.Response:
    return await _page(request)


async def reply(request: web.Request) -> web.Response:
    """Field `text` (or `template`, once the WhatsApp window has closed)."""
    view = await _view(request)
    form = await request.post()
    text = str(form.get("text", "")).strip()[:MAX_REPLY]
    template = str(form.get("template", "")).strip() or None
    route = view.route
    if route is None:
        return await _page(request, NO_ROUTE, 400)
    window = window_of(route)
    profile = console(request).profile
    if window is not None and not window.open:
        if template is None:
            return await _page(request, WINDOW_CLOSED, 400)
        if template not in profile.templates:
            return await _page(request, UNKNOWN_TEMPLATE, 400)
        name = our_name_for(request, template)
        message = outgoing(view.id, route, text or template, template, {"1": name})
    else:
        if not text:
            return await _page(request, EMPTY_REPLY, 400)
        message = outgoing(view.id, route, text)
    message_id = await console(request).store.casework.send(message, staff(request).email)
    await push(request, message_id)
    raise web.HTTPFound(f"/console/conversations/{view.id}")


async def add_note(request: web.Request) -> web.Response:
    view = await _view(request)
    form = await request.post()
    body = str(form.get("note", "")).strip()[:MAX_NOTE]
    if body:
        await console(request).store.casework.add_note(view.id, staff(request).email, body)
    raise web.HTTPFound(back_to(None, f"/console/conversations/{view.id}"))


def conversation_routes() -> list[web.RouteDef]:
    return [
        web.get("/conversations/{id}", conversation_page),
        web.post("/conversations/{id}/reply", reply),
        web.post("/conversations/{id}/notes", add_note),
    ]
