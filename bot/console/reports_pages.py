"""The manager's reports (/console/reports) and the CSV export of each of their tables
(/console/reports/<table>.csv?from=..&to=..), for managers and administrators.

The page and the exports are made from the same rows (bot/storage/reports.py) by the same
code (report_figures.py, report_quality.py), so a spreadsheet shows the figures the charts
do. An export is a UTF-8 file with a byte-order mark, which Excel needs to open Arabic, one
row per case where the table counts cases; every view and export is in the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import date, datetime

from aiohttp import web

from bot.i18n import Translator
from bot.models import utcnow
from bot.profile import Profile

from .context import ConsoleContext, audit, console, translator_for
from .rendering import render
from .report_figures import (
    complaints_section,
    handoffs_section,
    messages_section,
    requests_section,
)
from .report_period import PRESETS, Chosen, period_or_400
from .report_quality import satisfaction_section, unanswered_section
from .report_tables import Cell, Section, Table

TABLES = (
    "messages",
    "requests",
    "complaints",
    "satisfaction",
    "surveys",
    "handoffs",
    "unanswered",
)
BOM = "\ufeff"
# A spreadsheet runs a cell that starts with one of these as a formula: a beneficiary's
# question could be written to do so, so such text is exported as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


async def sections(ctx: ConsoleContext, t: Translator, chosen: Chosen) -> list[Section]:
    """Every section of the report for the chosen period, in the page's order."""
    reports, profile, period, now = ctx.store.reports, ctx.profile, chosen.period, utcnow()
    return [
        messages_section(t, await reports.messages_per_day(period), chosen.first, chosen.last),
        requests_section(t, profile, await reports.requests(period), now),
        complaints_section(t, profile, await reports.complaints(period), now),
        satisfaction_section(
            t, profile, await reports.survey_answers(period), chosen.first, chosen.last
        ),
        handoffs_section(t, profile, await reports.handoffs(period), now),
        unanswered_section(t, await reports.unanswered(period)),
    ]


def _period(request: web.Request) -> Chosen | str:
    profile = console(request).profile
    return period_or_400(request, utcnow().astimezone(profile.tz).date(), profile.tz)


def _audited(chosen: Chosen, **more: object) -> dict[str, object]:
    return {"from": chosen.first.isoformat(), "to": chosen.last.isoformat(), **more}


async def reports_page(request: web.Request) -> web.Response:
    chosen = _period(request)
    values: dict[str, object] = {"presets": PRESETS, "chosen": None, "error": None}
    if isinstance(chosen, str):
        return render(request, "reports.html", {**values, "error": chosen}, status=400)
    found = await sections(console(request), translator_for(request), chosen)
    await audit(request, "report.viewed", None, _audited(chosen))
    return render(request, "reports.html", {**values, "chosen": chosen, "sections": found})


def csv_cell(value: Cell, profile: Profile) -> str:
    """A cell as a spreadsheet reads it: local date and time, plain numbers, text safe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(profile.tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float):
        return str(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_text(table: Table, profile: Profile) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(value, profile) for value in row])
    return BOM + out.getvalue()


def _export(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def export(request: web.Request) -> web.Response:
        chosen = _period(request)
        t = translator_for(request)
        if isinstance(chosen, str):
            raise web.HTTPBadRequest(text=t.gettext(chosen))
        ctx = console(request)
        tables = [table for s in await sections(ctx, t, chosen) for table in s.tables]
        (table,) = [table for table in tables if table.name == name]
        await audit(request, "report.exported", None, _audited(chosen, table=name))
        filename = f"tawasul-{name}-{chosen.first.isoformat()}-{chosen.last.isoformat()}.csv"
        return web.Response(
            body=csv_text(table, ctx.profile).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    return export


def report_routes() -> list[web.RouteDef]:
    return [
        web.get("/reports", reports_page),
        *(web.get(f"/reports/{name}.csv", _export(name)) for name in TABLES),
    ]
