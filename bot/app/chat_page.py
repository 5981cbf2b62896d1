"""The web chat's page and its reply feed (the message POST goes through bot.app.webhooks)."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from bot.i18n import LANGUAGES, translator
from bot.profile import Profile
from channels.webchat import WebChatChannel

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
)


def chat_routes(channel: WebChatChannel, profile: Profile) -> list[web.AbstractRouteDef]:
    """GET /chat (the page), POST /chat/api/session, GET /chat/api/messages (long poll)."""

    async def page(request: web.Request) -> web.Response:
        language = request.query.get("lang", profile.default_language)
        if language not in LANGUAGES:
            language = profile.default_language
        t = translator(language)
        html = _templates.get_template("chat.html").render(
            _=t.gettext,
            gettext=t.gettext,
            ngettext=t.ngettext,
            lang=t.language,
            dir=t.direction,
            name=profile.name.get(t.language),
            other_lang=next(code for code in LANGUAGES if code != t.language),
            privacy_url=profile.privacy_notice_url,
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def new_session(request: web.Request) -> web.Response:
        return web.json_response({"session": channel.new_session()}, status=201)

    async def replies(request: web.Request) -> web.Response:
        session = channel.session_id(request.query.get("session", ""))
        if session is None:
            return web.json_response({"error": "unknown session"}, status=403)
        after = request.query.get("after", "0-0")
        if not _valid_cursor(after):
            return web.json_response({"error": "after must be a stream id"}, status=400)
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            return web.json_response({"error": "wait must be a number"}, status=400)
        messages, cursor = await channel.replies(session, after, wait)
        return web.json_response({"messages": messages, "cursor": cursor})

    return [
        web.get("/chat", page),
        web.post("/chat/api/session", new_session),
        web.get("/chat/api/messages", replies),
        web.static("/chat/static", STATIC),
    ]


def _valid_cursor(value: str) -> bool:
    first, _, second = value.partition("-")
    return first.isdigit() and second.isdigit() and len(value) < 40
