"""The console's pages. Those of the work pages (inbox, conversation, requests, complaints,
contacts) are placeholders here until their own modules replace them; broadcasts and
reports say they come later."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.i18n import N_

from .assignment import assignment_routes
from .attachments import attachment_routes
from .complaints_pages import complaint_routes
from .contacts_pages import contact_routes
from .conversations import conversation_routes
from .inbox import inbox_routes
from .rendering import render
from .requests_pages import request_routes

# Translators: the console's page titles, shown in the navigation and as headings.
INBOX = N_("Inbox")
CONVERSATION = N_("Conversation")
REQUESTS = N_("Support requests")
REQUEST = N_("Support request")
COMPLAINTS = N_("Complaints")
CONTACTS = N_("Beneficiaries")
BROADCASTS = N_("Broadcasts")
REPORTS = N_("Reports")

# Translators: shown on a console page whose content is not built yet.
BEING_BUILT = N_("This page is being prepared.")
# Translators: the broadcasts and reports pages of the console, which arrive in a later version.
LATER = N_("This page comes in a later version of Tawasul.")


def placeholder(
    title: str, note: str = BEING_BUILT
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def page(request: web.Request) -> web.Response:
        return render(request, "placeholder.html", {"title": title, "note": note})

    return page


async def not_yet(request: web.Request) -> web.Response:
    """A POST route whose work is not built yet: nothing is done, and it says so."""
    raise web.HTTPNotImplemented(text="not available yet")


def page_routes() -> list[web.RouteDef]:
    return [
        *inbox_routes(),
        *conversation_routes(),
        *request_routes(),
        *attachment_routes(),
        *complaint_routes(),
        *assignment_routes(),
        *contact_routes(),
        web.get("/broadcasts", placeholder(BROADCASTS, LATER)),
        web.get("/reports", placeholder(REPORTS, LATER)),
    ]
