"""Request status: by reference number, for the contact that filed it — or for anyone who
proves they are the applicant with the national ID and date of birth on the request. A
complaint's reference (C-…) typed here shows that complaint, to the contact that filed it.

Proving it is limited where it cannot be reset (bot/attempts.py, in Redis): a few tries per
request, per contact and per client address an hour, whoever asks and however often the
journey is started again; only the date of birth counts as the date of birth.
"""

from __future__ import annotations

from typing import Any

from bot.attempts import AttemptLimit, Check, sender_subject
from bot.fields import Invalid
from bot.fields.dates import DATE_FORMAT
from bot.i18n import N_
from bot.models import Button
from bot.storage.complaints import ComplaintView
from bot.storage.requests import RequestView
from bot.typed_dates import parse_date
from handlers.base import Flow, Turn
from handlers.choices import CANCEL_WORDS, said
from handlers.menu import show_menu

NAME = "request_status"
REQUEST_PREFIX = "req:"
HOUR = 3600
TRIES_FOR_REQUEST = AttemptLimit("request-status-tries-for-request", 3, HOUR)
TRIES_BY_SENDER = AttemptLimit("request-status-tries-by-sender", 5, HOUR)
TRIES_FROM_CLIENT = AttemptLimit("request-status-tries-from-client", 10, HOUR)
BIRTH_DATE_FIELD = "birth_date"

STATUS_LABELS = {
    "submitted": N_("Received, waiting for the research committee"),
    "under_review": N_("Being studied by the research committee"),
    "needs_info": N_("More information is needed from you"),
    "accepted": N_("Accepted"),
    "rejected": N_("Regretfully declined by the committee"),
    "closed": N_("Closed"),
}
COMPLAINT_STATUS_LABELS = {
    "open": N_("Received, our team is looking into it"),
    "in_progress": N_("Being handled by our team"),
    "resolved": N_("Answered"),
    "closed": N_("Closed"),
}
# The policies: the committee answers "in a period of no less than two weeks".
DECISION_EXPECTED = N_(
    "The research committee takes at least {period} to study a request, so expect its "
    "answer from {date}."
)
ASK_REFERENCE = N_("Please write the reference number of the request, e.g. R-482139075.")
NOT_FOUND = N_(
    "I could not find a request with that number. Please check it and write it again, or "
    "write “menu”."
)
NOT_YOUR_REQUEST = N_(
    "This request was not filed from this chat. To see it, please write the national ID used "
    "in the request."
)
RESPONSE_BY = N_("We will respond by {date}.")
RESPONSE_LATE = N_(
    "We should have responded by {date}; we are sorry for the delay. Our staff can tell you "
    "more: choose “Talk to staff”."
)
NOT_YOUR_COMPLAINT = N_(
    "This complaint was not filed from this chat, so I cannot show it here. If it is yours, "
    "our staff will gladly help: choose “Talk to staff”."
)


class RequestStatusFlow(Flow):
    name = NAME

    async def start(self, turn: Turn) -> None:
        mine = await turn.records.requests_of(turn.contact_id)
        turn.state.step = "reference"
        t = turn.t
        if mine:
            turn.say(
                t.gettext(N_("Which request? Choose it, or write its reference number.")),
                [Button(REQUEST_PREFIX + r.reference, r.reference) for r in mine],
            )
        else:
            turn.say(t.gettext(ASK_REFERENCE))

    async def handle(self, turn: Turn) -> None:
        if said(turn, CANCEL_WORDS):
            turn.state.enter(None)
            show_menu(turn)
            return
        step = turn.state.step
        if step == "national_id":
            await self._national_id(turn)
        elif step == "birth_date":
            await self._birth_date(turn)
        else:
            await self._reference(turn)

    async def _reference(self, turn: Turn) -> None:
        button = turn.message.button_id or ""
        typed = button.removeprefix(REQUEST_PREFIX) if button else turn.message.text
        found = await turn.records.record(typed)
        t = turn.t
        if found is None:
            turn.say(t.gettext(NOT_FOUND))
            return
        if isinstance(found, ComplaintView):
            self._show_complaint(turn, found)
            return
        view = found
        if view.contact_id == turn.contact_id:
            self._show(turn, view)
            return
        if turn.attempts is None or await turn.attempts.exhausted(_tries(turn, view.reference)):
            _locked(turn)
            return
        turn.state.step = "national_id"
        turn.state.data = {"reference": view.reference}
        turn.say(t.gettext(NOT_YOUR_REQUEST))

    async def _national_id(self, turn: Turn) -> None:
        field = next(f for f in turn.profile.support_form.fields if f.kind == "national_id")
        result = field.validate_answer(turn.message.text, today=turn.now.date())
        if isinstance(result, Invalid):
            turn.say(result.render(turn.t))
            return
        turn.state.data["national_id"] = result.value
        turn.state.step = "birth_date"
        turn.say(turn.t.gettext(N_("And the date of birth written in the request?")))

    async def _birth_date(self, turn: Turn) -> None:
        born = parse_date(turn.message.text)
        if born is None:
            turn.say(turn.t.gettext(DATE_FORMAT))
            return
        data: dict[str, Any] = turn.state.data
        tries = _tries(turn, data["reference"])
        birth_field = _birth_field(turn)
        attempts = turn.attempts
        if attempts is None or birth_field is None or not await attempts.take(tries):
            _locked(turn)
            return
        records = turn.records
        if await records.identity_matches(
            data["reference"], data.pop("national_id"), born.isoformat(), [birth_field]
        ):
            view = await records.request(data["reference"])
            if view is not None:
                await attempts.give_back(tries)  # the applicant: it does not count
                self._show(turn, view)
                return
        if await attempts.exhausted(tries):
            turn.state.enter(None)
            show_menu(
                turn,
                turn.t.gettext(
                    N_(
                        "The details do not match this request, so I cannot show it. You can "
                        "ask our staff for help with “Talk to staff”."
                    )
                ),
            )
            return
        turn.state.step = "national_id"
        turn.say(
            turn.t.gettext(
                N_(
                    "The details do not match this request. Please write the national ID used "
                    "in the request again."
                )
            )
        )

    def _show(self, turn: Turn, view: RequestView) -> None:
        t = turn.t
        tz = turn.profile.tz
        request_type = turn.profile.get_request_type(view.request_type)
        kind = request_type.label.get(t.language) if request_type else view.request_type
        lines = [
            t.gettext(N_("Request {reference} ({kind}): {status}.")).format(
                reference=view.reference,
                kind=kind,
                status=t.gettext(STATUS_LABELS.get(view.status, view.status)),
            ),
            t.gettext(N_("History:")),
        ]
        for status, at in view.history:
            label = t.gettext(STATUS_LABELS.get(status, status))
            lines.append(f"- {t.format_date(at.astimezone(tz).date())}: {label}")
        if view.status in ("submitted", "under_review"):
            lines.append(
                t.gettext(DECISION_EXPECTED).format(
                    period=t.format_days(turn.profile.sla.request_decision_days),
                    date=t.format_date(view.decision_due.astimezone(tz).date()),
                )
            )
        turn.state.enter(None)
        show_menu(turn, "\n".join(lines))

    def _show_complaint(self, turn: Turn, view: ComplaintView) -> None:
        """A complaint's status, to the contact who filed it; its text is never shown here."""
        t = turn.t
        turn.state.enter(None)
        if view.contact_id != turn.contact_id:
            show_menu(turn, t.gettext(NOT_YOUR_COMPLAINT))
            return
        category = turn.profile.get_complaint_category(view.category)
        lines = [
            t.gettext(N_("Complaint {reference} ({category}): {status}.")).format(
                reference=view.reference,
                category=category.label.get(t.language) if category else view.category,
                # A status the console adds later reads as "being handled", never as a code.
                status=t.gettext(
                    COMPLAINT_STATUS_LABELS.get(view.status, COMPLAINT_STATUS_LABELS["in_progress"])
                ),
            ),
            t.gettext(N_("Received on {date}.")).format(
                date=t.format_date(view.created_at.astimezone(turn.profile.tz).date())
            ),
        ]
        if view.status not in ("resolved", "closed"):
            by = (
                t.format_datetime(view.respond_by, turn.profile.timezone)
                if view.urgent
                else t.format_date(view.respond_by.astimezone(turn.profile.tz).date())
            )
            late = turn.now > view.respond_by
            lines.append(t.gettext(RESPONSE_LATE if late else RESPONSE_BY).format(date=by))
        show_menu(turn, "\n".join(lines))


def _tries(turn: Turn, reference: str) -> list[Check]:
    message = turn.message
    return [
        (TRIES_FOR_REQUEST, reference),
        (TRIES_BY_SENDER, sender_subject(message.address_kind.value, message.address)),
        (TRIES_FROM_CLIENT, message.client_address),
    ]


def _birth_field(turn: Turn) -> str | None:
    """The form's date of birth: the date field named so, else the one date that may not
    be in the future (an ID's expiry date is never taken for it)."""
    dates = [f for f in turn.profile.support_form.fields if f.kind == "date"]
    for field in dates:
        if field.id == BIRTH_DATE_FIELD:
            return field.id
    past = [f.id for f in dates if getattr(f, "not_in_future", False)]
    return past[0] if len(past) == 1 else None


def _locked(turn: Turn) -> None:
    turn.state.enter(None)
    show_menu(
        turn,
        turn.t.gettext(
            N_(
                "This request cannot be checked now: the details were wrong too many times. "
                "Please try again later, or ask our staff for help with “Talk to staff”."
            )
        ),
    )
