"""Broadcasts in the console (/console/broadcasts, managers and administrators): compose the
Arabic and English update, choose the audience with a count of its recipients, see it as it
will look on WhatsApp and by SMS (with its segments), send it now or at a time after a
confirm step, follow each broadcast's progress, cancel one.

Every operation goes through the CLI's service (worker.broadcast_service.BroadcastService,
on ConsoleContext.broadcasts): the same audience (consenting, not stopped), the same jobs.
A small script (static/broadcasts.js) asks /console/broadcasts/count as the form changes and
/console/broadcasts/progress every few seconds; without it, the form's "Count" button and
the list's "Refresh" link do the same."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.i18n import N_
from bot.models import utcnow
from bot.storage.audit import Subject
from bot.storage.broadcasts import BroadcastCounts, BroadcastSummary
from worker.broadcast_service import BroadcastService

from .broadcasts_form import MAX_TEXT, Draft, local_input, read_draft
from .broadcasts_preview import (
    CHANNEL_LABELS,
    PROVIDER_LABELS,
    SKIP_LABELS,
    previews,
    templates_used,
)
from .context import audit, console, staff
from .rendering import render, render_fragment

# The newest broadcasts, whose progress is counted on each refresh (with those still going).
DETAILED = 10
CONFIRM_SECONDS = 3600
# Translators: the states of a broadcast in the console.
STATUS_LABELS = {
    "scheduled": N_("Scheduled"),
    "running": N_("Sending"),
    "done": N_("Finished"),
    "cancelled": N_("Cancelled"),
}
# Translators: said when nobody matches a broadcast's audience, at the confirm step.
NOBODY = N_("No beneficiary matches this audience, so nobody would receive the update.")
# Translators: said when cancelling a broadcast that has already ended.
NOT_CANCELLED = N_("This broadcast has already ended or was cancelled: there is nothing to stop.")


@dataclass(frozen=True)
class Row:
    summary: BroadcastSummary
    counts: BroadcastCounts | None

    @property
    def waiting(self) -> int:
        return self.counts.pending + self.counts.queued if self.counts else 0

    @property
    def skipped(self) -> int:
        return sum(self.counts.skipped.values()) if self.counts else 0

    @property
    def share(self) -> int:
        """How much of it is finished, in percent."""
        if self.counts is None or not self.counts.total:
            return 100 if self.summary.status in ("done", "cancelled") else 0
        return round(100 * self.counts.finished / self.counts.total)


def _service(request: web.Request) -> BroadcastService:
    found = console(request).broadcasts
    if found is None:
        raise web.HTTPServiceUnavailable(text="broadcasts are not available in this process")
    return found


def _channels_on(request: web.Request) -> list[str]:
    return [name for name in console(request).channels if name in CHANNEL_LABELS]


def _whatsapp_on(request: web.Request) -> list[str]:
    """The WhatsApp providers on: Meta's channel, and Twilio when it has a WhatsApp sender."""
    channels = console(request).channels
    return [
        name
        for name in ("whatsapp", "twilio")
        if name in channels and (name != "twilio" or getattr(channels[name], "whatsapp_from", None))
    ]


async def _count(request: web.Request, draft: Draft) -> dict[str, int]:
    return (await _service(request).create(draft.spec(), dry_run=True)).per_channel


async def _rows(request: web.Request) -> list[Row]:
    service = _service(request)
    rows = []
    for index, summary in enumerate(await service.summaries()):
        wanted = index < DETAILED or summary.status in ("scheduled", "running")
        counts = await service.status(summary.id) if wanted else None
        rows.append(Row(summary, counts))
    return rows


def _list_values(rows: list[Row]) -> dict[str, Any]:
    return {"rows": rows, "status_labels": STATUS_LABELS, "skip_labels": SKIP_LABELS}


async def _compose_values(request: web.Request, draft: Draft) -> dict[str, Any]:
    counted = await _count(request, draft)
    channels_on = _channels_on(request)
    return {
        "draft": draft,
        "counts": counted,
        "total": sum(counted.values()),
        "channels_on": channels_on,
        "channel_labels": CHANNEL_LABELS,
        "previews": previews(draft.text_ar, draft.text_en),
        "templates": templates_used(console(request).profile, _whatsapp_on(request)),
        "provider_labels": PROVIDER_LABELS,
    }


async def _page(
    request: web.Request,
    draft: Draft,
    *,
    problems: list[str] | None = None,
    confirm: str | None = None,
    status: int = 200,
) -> web.Response:
    tz = console(request).profile.tz
    values = {
        **await _compose_values(request, draft),
        **_list_values(await _rows(request)),
        "problems": problems or [],
        "confirm": confirm,  # the confirm step's one-time token
        "max_text": MAX_TEXT,
        "at_value": local_input(draft.at, tz) if draft.at else draft.at_text,
        "min_at": local_input(utcnow(), tz),
        "created": request.query.get("created"),
        "cancelled": request.query.get("cancelled"),
    }
    return render(request, "broadcasts.html", values, status=status)


def _draft(request: web.Request, form: Any) -> Draft:
    return read_draft(form, _channels_on(request), console(request).profile.tz, utcnow())


async def broadcasts_page(request: web.Request) -> web.Response:
    return await _page(request, Draft())


async def submit(request: web.Request) -> web.Response:
    """The form's buttons: count (and preview) again, review (the confirm step), edit, send."""
    form = await request.post()
    draft = _draft(request, form)
    action = form.get("action")
    if action in ("count", "edit"):
        return await _page(request, draft)
    if draft.problems:
        return await _page(request, draft, problems=draft.problems, status=400)
    if action != "send":
        if not sum((await _count(request, draft)).values()):
            return await _page(request, draft, problems=[NOBODY], status=400)
        return await _page(request, draft, confirm=secrets.token_urlsafe(16))
    return await _send(request, draft, str(form.get("confirm", "")))


async def _send(request: web.Request, draft: Draft, token: str) -> web.Response:
    ctx = console(request)
    # One broadcast per confirm step, however often its button is pressed.
    key = f"{ctx.namespace}:console:broadcast-confirm:{token}"
    if not token or not await ctx.redis.set(key, 1, nx=True, ex=CONFIRM_SECONDS):
        raise web.HTTPFound("/console/broadcasts")
    member = staff(request)
    created = await _service(request).create(draft.spec(member.email))
    spec = draft.spec()
    await audit(
        request,
        "broadcast.created",
        Subject("broadcast", created.broadcast_id),
        {
            "recipients": created.total,
            "per_channel": created.per_channel,
            "filters": spec.filters(),
            "scheduled_at": spec.at.isoformat() if spec.at else None,
        },
    )
    raise web.HTTPFound(f"/console/broadcasts?created={created.broadcast_id}")


async def count(request: web.Request) -> web.Response:
    """The script's live count and preview: the same fragments the page shows."""
    form = await request.post()
    values = await _compose_values(request, _draft(request, form))
    return web.json_response(
        {
            "total": values["total"],
            "per_channel": values["counts"],
            "count_html": render_fragment(request, "broadcast_count.html", values),
            "preview_html": render_fragment(request, "broadcast_preview.html", values),
        },
        headers={"Cache-Control": "no-store"},
    )


async def progress(request: web.Request) -> web.Response:
    rows = await _rows(request)
    html = render_fragment(request, "broadcast_rows.html", _list_values(rows))
    return web.json_response(
        {"html": html, "running": sum(1 for r in rows if r.summary.status == "running")},
        headers={"Cache-Control": "no-store"},
    )


async def cancel(request: web.Request) -> web.Response:
    try:
        broadcast_id = int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not await _service(request).cancel(broadcast_id):
        if await _service(request).status(broadcast_id) is None:
            raise web.HTTPNotFound()
        return await _page(request, Draft(), problems=[NOT_CANCELLED], status=409)
    await audit(request, "broadcast.cancelled", Subject("broadcast", broadcast_id))
    raise web.HTTPFound(f"/console/broadcasts?cancelled={broadcast_id}")


def broadcast_routes() -> list[web.RouteDef]:
    return [
        web.get("/broadcasts", broadcasts_page),
        web.post("/broadcasts", submit),
        web.post("/broadcasts/count", count),
        web.get("/broadcasts/progress", progress),
        web.post("/broadcasts/{id}/cancel", cancel),
    ]
