"""The questions the bot could not answer (/console/questions): how often each was asked
(grouped by its normalised text), and what staff do with one — attach it to an FAQ entry as
a new phrasing, answer it with a new entry in both languages, or dismiss it as not an FAQ.
Additions are stored in the database (bot/storage/faq_additions.py), never in the profile
file, and every web and worker process uses them from its next message on (bot/faq_live.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp import web

from bot.faq_live import announce_change, merged_profile
from bot.i18n import N_
from bot.models import utcnow
from bot.profile import Profile
from bot.storage.faq_additions import NewEntry
from bot.storage.unanswered import UnansweredGroup
from bot.text import has_arabic_letters, parse_int

from .context import audit, client_address, console, staff
from .rendering import render

PAGE = "/console/questions"
MAX_QUESTION, MAX_ANSWER = 500, 4000
# Translators: the periods of the unanswered-questions page.
PERIODS = {
    7: N_("Last 7 days"),
    30: N_("Last 30 days"),
    90: N_("Last 90 days"),
    365: N_("Last 12 months"),
}
DEFAULT_DAYS = 30
_KEY = re.compile(r"^[0-9a-f]{64}$")
# Translators: errors of the unanswered-questions page of the console.
NO_PHRASING = N_("Write the phrasing to add (at most 500 characters).")
NO_ENTRY = N_("Choose the FAQ entry this question belongs to.")
NO_TOPIC = N_("Choose the topic of the new entry.")
NEW_ENTRY_INCOMPLETE = N_(
    "Write the question and the answer in both Arabic and English "
    "(questions at most 500 characters, answers at most 4000)."
)


def _days(request: web.Request) -> int | None:
    """The period asked for (?days=7, Arabic-Indic digits too; "all" for every ask)."""
    asked = request.query.get("days", "")
    if asked == "all":
        return None
    days = parse_int(asked) if asked else None
    return days if days in PERIODS else DEFAULT_DAYS


async def _faq(request: web.Request) -> Profile:
    """The profile's FAQ with what staff have added so far."""
    ctx = console(request)
    return merged_profile(ctx.profile, await ctx.store.faq_additions.all())


async def questions_page(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    ctx = console(request)
    days = _days(request)
    since = None if days is None else utcnow() - timedelta(days=days)
    groups = await ctx.store.unanswered.questions(since)
    faq = await _faq(request)
    additions = list(reversed(await ctx.store.faq_additions.all()))[:20]
    await audit(request, "faq.questions_viewed", None, {"fields": ["question"], "days": days})
    titles = {e.id: e.questions for topic in faq.faq for e in topic.entries}
    return render(
        request,
        "questions.html",
        {
            "groups": groups,
            "faq": faq,
            "titles": titles,
            "additions": additions,
            "periods": PERIODS,
            "days": days,
            "language_of": _language_of,
            "error": error,
        },
        status=status,
    )


def _language_of(group: UnansweredGroup) -> str:
    """The language the question is written in (the phrasing's language by default)."""
    return "ar" if has_arabic_letters(group.question) else "en"


async def _group(request: web.Request) -> UnansweredGroup:
    key = request.match_info["key"]
    found = await console(request).store.unanswered.question(key) if _KEY.match(key) else None
    if found is None:
        raise web.HTTPNotFound()
    return found


def _text(form: object, name: str, limit: int) -> str | None:
    value = str(form.get(name, "")).strip()  # type: ignore[attr-defined]
    return value if value and len(value) <= limit else None


async def _done(request: web.Request) -> web.Response:
    """Every process rebuilds its FAQ from its next message on; back to the list."""
    ctx = console(request)
    await announce_change(ctx.redis, ctx.namespace)
    raise web.HTTPFound(PAGE)


async def attach(request: web.Request) -> web.Response:
    group = await _group(request)
    form = await request.post()
    phrasing = _text(form, "phrasing", MAX_QUESTION)
    if phrasing is None:
        return await questions_page(request, NO_PHRASING, 400)
    entry_id = str(form.get("entry", ""))
    if (await _faq(request)).get_faq_entry(entry_id) is None:
        return await questions_page(request, NO_ENTRY, 400)
    language = "en" if form.get("language") == "en" else "ar"
    await console(request).store.faq_additions.add_phrasing(
        entry_id, language, phrasing, staff(request).email, group.key, client_address(request)
    )
    return await _done(request)


async def new_entry(request: web.Request) -> web.Response:
    group = await _group(request)
    form = await request.post()
    topic_id = str(form.get("topic", ""))
    if console(request).profile.get_faq_topic(topic_id) is None:
        return await questions_page(request, NO_TOPIC, 400)
    texts = [
        _text(form, name, MAX_QUESTION if name.startswith("question") else MAX_ANSWER)
        for name in ("question_ar", "question_en", "answer_ar", "answer_en")
    ]
    question_ar, question_en, answer_ar, answer_en = texts
    if question_ar is None or question_en is None or answer_ar is None or answer_en is None:
        return await questions_page(request, NEW_ENTRY_INCOMPLETE, 400)
    entry = NewEntry(topic_id, question_ar, question_en, answer_ar, answer_en)
    await console(request).store.faq_additions.add_entry(
        entry, staff(request).email, group.key, client_address(request)
    )
    return await _done(request)


async def dismiss(request: web.Request) -> web.Response:
    group = await _group(request)
    await console(request).store.unanswered.dismiss(
        group.key, staff(request).email, client_address(request)
    )
    raise web.HTTPFound(PAGE)


def question_routes() -> list[web.RouteDef]:
    return [
        web.get("/questions", questions_page),
        web.post("/questions/{key}/attach", attach),
        web.post("/questions/{key}/entry", new_entry),
        web.post("/questions/{key}/dismiss", dismiss),
    ]
