"""Complaints in the console (/console/complaints and /console/complaints/{reference}): the
list with the time left to respond, one complaint with its description and attachments, and
closing it with the response (told to the beneficiary in their language, on their channel),
the resolution kept for the association, and — where the association may be at fault — the
compensation decision as its policy sets it out (bot/storage/complaint_cases.py)."""

from __future__ import annotations

from aiohttp import web

from bot.i18n import N_
from bot.models import utcnow
from bot.storage.audit import Subject
from bot.storage.casework import NotAllowed
from bot.storage.complaint_cases import PROOFS, Compensation, ComplaintCase
from bot.storage.references import COMPLAINT_PREFIX, typed_reference
from bot.storage.surveys import SurveySchedule
from bot.work_calendar import complaint_resolution_due

from .assignment import colleagues_by_kind
from .beneficiary import beneficiary_translator, notice, push
from .casework_common import domain_label
from .context import audit, console, staff, translator_for
from .conversations import NOT_SENT_REASONS
from .conversations import STATUSES as MESSAGE_STATUSES
from .rendering import render
from .sla import sla_state, time_left

MAX_TEXT = 4000
# Translators: the statuses of a complaint in the console.
STATUSES = {"open": N_("Open"), "closed": N_("Closed")}
# Translators: how the association's fault is proven (the compensation policy).
PROOF_LABELS = {
    "admission": N_("The association's admission"),
    "final_ruling": N_("A final ruling by the competent authority"),
}
# Translators: sent to the beneficiary when their complaint is closed, with staff's response.
CLOSED = N_("Your complaint {reference} has been dealt with. Our response: {response}")
# Translators: added to the message above when compensation was agreed.
COMPENSATION = N_("Compensation agreed: {outcome}")
# The profile's approved template past WhatsApp's window ({{1}}: the reference).
UPDATE_TEMPLATE = "complaint_update"
NO_RESPONSE = N_("Write the response to the beneficiary before closing the complaint.")
NO_OUTCOME = N_(
    "The three conditions of the compensation policy hold: write the outcome of the negotiation."
)


def _category(request: web.Request, category_id: str) -> tuple[str, str]:
    profile = console(request).profile
    language = translator_for(request).language
    found = profile.get_complaint_category(category_id)
    if found is None:
        return category_id, ""
    return found.label.get(language), domain_label(profile, found.domain, language)


async def complaints_page(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    category = request.query.get("category") or None
    found = await console(request).store.complaint_cases.complaints(status, category)
    t = translator_for(request)
    now = utcnow()
    rows = []
    for c in found:
        label, domain = _category(request, c.category)
        left, late = time_left(t, c.respond_by, now) if c.status == "open" else ("", False)
        rows.append({"c": c, "label": label, "domain": domain, "left": left, "late": late})
    return render(
        request,
        "complaints.html",
        {
            "rows": rows,
            "statuses": STATUSES,
            "categories": console(request).profile.complaint_categories,
            "chosen": {"status": status, "category": category},
        },
    )


async def _case(request: web.Request) -> ComplaintCase:
    reference = typed_reference(COMPLAINT_PREFIX, request.match_info["reference"])
    found = await console(request).store.complaint_cases.complaint(reference) if reference else None
    if found is None:
        raise web.HTTPNotFound()
    return found


async def complaint_page(
    request: web.Request, error: str | None = None, status: int = 200
) -> web.Response:
    case = await _case(request)
    await audit(
        request,
        "complaint.viewed",
        Subject("contact", case.contact_id),
        {"reference": case.reference, "fields": ["description", "attachments"]},
    )
    label, domain = _category(request, case.category)
    media = await console(request).store.casework_reads.media_of(case.attachments)
    alerts = (await console(request).store.sla.alerts("complaint", [case.id])).get(case.id, set())
    resolve_by = complaint_resolution_due(console(request).profile, case.category, case.created_at)
    state = sla_state(
        translator_for(request),
        case.respond_by,
        utcnow(),
        paused=False,
        running=case.status == "open",
        alerts=alerts,
    )
    return render(
        request,
        "complaint.html",
        {
            "case": case,
            "media": media,
            "sla_state": state,
            "resolve_by": resolve_by,
            "label": label,
            "domain": domain,
            "statuses": STATUSES,
            "proofs": PROOFS,
            "proof_labels": PROOF_LABELS,
            "message_statuses": MESSAGE_STATUSES,
            "not_sent_reasons": NOT_SENT_REASONS,
            "people": (await colleagues_by_kind(request))["complaint"],
            "error": error,
        },
        status=status,
    )


async def close_complaint(request: web.Request) -> web.Response:
    case = await _case(request)
    form = await request.post()
    response = str(form.get("response", "")).strip()[:MAX_TEXT]
    resolution = str(form.get("resolution", "")).strip()[:MAX_TEXT] or None
    if not response:
        return await complaint_page(request, NO_RESPONSE, 400)
    compensation = None
    if form.get("breach") or form.get("direct") or form.get("proof"):
        proof = str(form.get("proof", ""))
        compensation = Compensation(
            breach=bool(form.get("breach")),
            direct=bool(form.get("direct")),
            proof=proof if proof in PROOFS else None,
            outcome=str(form.get("outcome", "")).strip()[:MAX_TEXT],
        )
        if compensation.due and not compensation.outcome:
            return await complaint_page(request, NO_OUTCOME, 400)
    ctx = console(request)
    told = None
    if case.conversation_id is not None:
        view = await ctx.store.casework_reads.conversation(case.conversation_id)
        if view is not None:
            t = beneficiary_translator(request, view.language)
            text = t.gettext(CLOSED).format(reference=case.reference, response=response)
            if compensation is not None and compensation.due:
                text += "\n" + t.gettext(COMPENSATION).format(outcome=compensation.outcome)
            told = notice(
                request, view.id, view.route, text, UPDATE_TEMPLATE, {"1": case.reference}
            )
    try:
        message_id = await ctx.store.complaint_cases.close(
            case.reference,
            staff(request).email,
            response,
            resolution,
            compensation,
            told,
            SurveySchedule.from_profile(ctx.profile),
        )
    except NotAllowed:
        raise web.HTTPFound(f"/console/complaints/{case.reference}") from None
    await push(request, message_id)
    raise web.HTTPFound(f"/console/complaints/{case.reference}")


def complaint_routes() -> list[web.RouteDef]:
    return [
        web.get("/complaints", complaints_page),
        web.get("/complaints/{reference}", complaint_page),
        web.post("/complaints/{reference}/close", close_complaint),
    ]
