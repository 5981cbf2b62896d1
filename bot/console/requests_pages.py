"""Support requests in the console: the list (filters: status, type, domain, overdue) and one
request (/console/requests/{reference}): its answers, decrypted only for the roles that study
them and audited when shown, its attachments, the attestation (time, channel, wording
version), and the status changes with a note: new → under study → more information needed →
accepted / rejected (the committee's decision date) → closed. Each change is told to the
beneficiary in their language on their channel (the approved template past WhatsApp's
window) and joins the history the bot's status lookup reads."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from bot.i18n import N_
from bot.models import utcnow
from bot.storage.audit import Subject
from bot.storage.casework import DECISIONS, REQUEST_TRANSITIONS, NotAllowed
from bot.storage.references import REQUEST_PREFIX, typed_reference
from bot.storage.request_cases import RequestDetail
from bot.storage.requests import OPEN_REQUEST_STATUSES
from bot.storage.surveys import SurveySchedule
from bot.work_calendar import WorkCalendar
from handlers.request_status import STATUS_LABELS

from .assignment import colleagues_by_kind
from .beneficiary import beneficiary_translator, notice, push
from .casework_common import domain_label
from .context import audit, console, staff, translator_for
from .rendering import render
from .sla import sla_state

# Who sees the applicant's answers (personal data): those who study the request.
ANSWER_ROLES = frozenset({"researcher", "manager", "admin"})
MAX_NOTE = 2000
STATUS_TEMPLATE = "request_status_update"
# Translators: sent to the beneficiary when staff change their request's status.
STATUS_CHANGED = N_("News about your request {reference}: {status}.")
# Translators: added to the message above when the committee asks for more information.
NEEDS_INFO = N_("What we need from you: {note}")
BAD_STATUS = N_("This status cannot follow the request's present status.")
BAD_DATE = N_("Write the committee's decision date (for an acceptance or a rejection).")


def _label_of(request: web.Request, type_id: str) -> str:
    found = console(request).profile.get_request_type(type_id)
    return found.label.get(translator_for(request).language) if found else type_id


async def requests_page(request: web.Request) -> web.Response:
    profile = console(request).profile
    status = request.query.get("status") or None
    kind = request.query.get("type") or None
    domain = request.query.get("domain") or None
    overdue = request.query.get("overdue") == "1"
    found = await console(request).store.request_cases.requests(status, kind)
    now = utcnow()
    rows = []
    for r in found:
        request_type = profile.get_request_type(r.request_type)
        if domain and (request_type is None or request_type.domain != domain):
            continue
        late = (
            r.status in ("submitted", "under_review") and r.decision_due < now
        )  # needs_info: paused
        if overdue and not late:
            continue
        rows.append({"r": r, "label": _label_of(request, r.request_type), "late": late})
    return render(
        request,
        "requests.html",
        {
            "rows": rows,
            "statuses": list(REQUEST_TRANSITIONS),
            "status_labels": STATUS_LABELS,
            "types": profile.request_types,
            "domains": profile.domains,
            "chosen": {"status": status, "type": kind, "domain": domain, "overdue": overdue},
        },
    )


async def _detail(request: web.Request) -> RequestDetail:
    reference = typed_reference(REQUEST_PREFIX, request.match_info["reference"])
    found = await console(request).store.request_cases.request(reference) if reference else None
    if found is None:
        raise web.HTTPNotFound()
    return found


async def request_page(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    detail = await _detail(request)
    profile = console(request).profile
    shows_answers = staff(request).role in ANSWER_ROLES
    if shows_answers:
        await audit(
            request,
            "support_request.viewed",
            Subject("contact", detail.contact_id),
            {"reference": detail.reference, "fields": sorted(detail.answers)},
        )
    t = translator_for(request)
    answers: list[dict[str, Any]] = []
    for field_id, value in detail.answers.items():
        field = profile.get_field(field_id)
        label = (
            field.label.get(t.language)
            if field is not None and hasattr(field, "label")
            else field_id
        )
        attachments = (
            value if isinstance(value, list) and value and isinstance(value[0], dict) else []
        )
        answers.append({"label": label, "value": value, "attachments": attachments})
    request_type = profile.get_request_type(detail.request_type)
    domain = request_type.domain if request_type else None
    alerts = await console(request).store.sla.alerts("request", [detail.id])
    state = sla_state(
        t,
        detail.decision_due,
        utcnow(),
        paused=detail.status == "needs_info",
        running=detail.status in OPEN_REQUEST_STATUSES,
        alerts=alerts.get(detail.id, set()),
    )
    return render(
        request,
        "request.html",
        {
            "detail": detail,
            "label": _label_of(request, detail.request_type),
            "domain": domain_label(profile, domain, t.language),
            "shows_answers": shows_answers,
            "answers": answers,
            "sla_state": state,
            "next_statuses": REQUEST_TRANSITIONS.get(detail.status, ()),
            "decisions": DECISIONS,
            "status_labels": STATUS_LABELS,
            "people": (await colleagues_by_kind(request))["request"],
            "error": error,
        },
        status=status,
    )


async def change_status(request: web.Request) -> web.Response:
    detail = await _detail(request)
    form = await request.post()
    status = str(form.get("status", ""))
    note = str(form.get("note", "")).strip()[:MAX_NOTE] or None
    decided_on: date | None = None
    if status not in REQUEST_TRANSITIONS.get(detail.status, ()):
        return await request_page(request, BAD_STATUS, 400)
    if status in DECISIONS:
        try:
            decided_on = date.fromisoformat(str(form.get("decided_on", "")))
        except ValueError:
            return await request_page(request, BAD_DATE, 400)
    ctx = console(request)
    told = None
    if detail.conversation_id is not None:
        view = await ctx.store.casework_reads.conversation(detail.conversation_id)
        if view is not None:
            t = beneficiary_translator(request, view.language)
            label = t.gettext(STATUS_LABELS[status])
            text = t.gettext(STATUS_CHANGED).format(reference=detail.reference, status=label)
            if status == "needs_info" and note:
                text += "\n" + t.gettext(NEEDS_INFO).format(note=note)
            told = notice(
                request,
                view.id,
                view.route,
                text,
                STATUS_TEMPLATE,
                {"1": detail.reference, "2": label},
            )
    try:
        message_id = await ctx.store.casework.set_request_status(
            detail.reference,
            status,
            staff(request).email,
            note,
            decided_on,
            told,
            calendar=WorkCalendar(ctx.profile),
            survey=SurveySchedule.from_profile(ctx.profile),
        )
    except NotAllowed:
        return await request_page(request, BAD_STATUS, 409)
    await push(request, message_id)
    raise web.HTTPFound(f"/console/requests/{detail.reference}")


def request_routes() -> list[web.RouteDef]:
    return [
        web.get("/requests", requests_page),
        web.get("/requests/{reference}", request_page),
        web.post("/requests/{reference}/status", change_status),
    ]
