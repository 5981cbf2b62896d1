"""The web chat's page and its reply feed (the message POST goes through bot.app.webhooks)."""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from bot.app.webhooks import client_address, too_many
from bot.i18n import LANGUAGES, translator
from bot.profile import Profile
from bot.rate_limit import Limit, RateLimiter
from bot.settings import Settings
from channels.webchat import TooManyPolls, WebChatChannel, valid_cursor

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
)


def chat_routes(
    channel: WebChatChannel,
    profile: Profile,
    limiter: RateLimiter | None = None,
    sessions: Limit | None = None,
    settings: Settings | None = None,
) -> list[web.AbstractRouteDef]:
    """GET /chat (the page), POST /chat/api/session (at most `sessions` per client address),
    GET /chat/api/messages (long poll)."""
    trust_forwarded_for = settings.trust_forwarded_for if settings else False

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
        if limiter is not None and sessions is not None:
            client = channel.context.cipher.lookup_hash(
                client_address(request, trust_forwarded_for)
            )
            verdict = await limiter.hit([(sessions, client)])
            if not verdict.allowed:
                return too_many(verdict.retry_after)
        return web.json_response({"session": channel.new_session()}, status=201)

    async def replies(request: web.Request) -> web.Response:
        session = channel.session_id(request.query.get("session", ""))
        if session is None:
            return web.json_response({"error": "unknown session"}, status=403)
        after = request.query.get("after", "0-0")
        if not valid_cursor(after):
            return web.json_response({"error": "after must be a stream id"}, status=400)
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            return web.json_response({"error": "wait must be a number"}, status=400)
        try:
            read = await channel.replies(session, after, wait)
        except TooManyPolls as exc:
            return web.json_response(
                {"error": "this conversation is already waiting for replies"},
                status=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        headers = {"Retry-After": str(read.retry_after)} if read.retry_after else None
        return web.json_response(
            {"messages": read.messages, "cursor": read.cursor, "retry_after": read.retry_after},
            headers=headers,
        )

    return [
        web.get("/chat", page),
        web.post("/chat/api/session", new_session),
        web.get("/chat/api/messages", replies),
        web.static("/chat/static", STATIC),
    ]
