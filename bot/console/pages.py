"""The console's work pages: each module of this package registers its own routes, and this
list is where they meet (bot/console/__init__.py adds them)."""

from __future__ import annotations

from aiohttp import web

from .assignment import assignment_routes
from .attachments import attachment_routes
from .broadcasts_pages import broadcast_routes
from .complaints_pages import complaint_routes
from .contacts_pages import contact_routes
from .conversations import conversation_routes
from .follow_ups import follow_up_routes
from .inbox import inbox_routes
from .questions_pages import question_routes
from .reports_pages import report_routes
from .requests_pages import request_routes


def page_routes() -> list[web.RouteDef]:
    return [
        *inbox_routes(),
        *conversation_routes(),
        *request_routes(),
        *attachment_routes(),
        *complaint_routes(),
        *assignment_routes(),
        *contact_routes(),
        *question_routes(),
        *follow_up_routes(),
        *broadcast_routes(),
        *report_routes(),
    ]
