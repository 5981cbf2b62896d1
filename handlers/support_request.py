"""The support request ("talab da'm mustafid"): the profile's form, one question per message.

Each answer is validated as it is typed and asked again with the reason when wrong; "back",
"cancel" and "skip" (where allowed) work in both languages; a summary allows editing before
the applicant attests that the data is correct and that they are responsible for it (stored
with time, channel and wording version). The draft lives in the conversation, so a form left
half done can be resumed later from any of the contact's channels until it expires.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from bot.effects import FileRequest
from bot.fields import ChoiceField, FormField, Invalid, MediaField
from bot.i18n import N_
from bot.models import Button
from bot.storage.attachments import reference
from bot.storage.references import REQUEST_PREFIX, new_reference
from bot.work_calendar import request_decision_due
from handlers.base import Flow, Turn
from handlers.choices import (
    BACK_WORDS,
    CANCEL_WORDS,
    NO_WORDS,
    SKIP_WORDS,
    STAFF_WORDS,
    YES,
    choose,
    said,
    yes_no,
)
from handlers.consent import offer_updates_once
from handlers.form_choices import (
    ATTEST,
    CANCEL,
    CONTINUE,
    CONTINUE_WORDS,
    DONE_WORDS,
    EDIT,
    EDIT_WORDS,
    NOTE_SUFFIX,
    RESTART,
    SUBMIT,
    SUBMIT_WORDS,
    attestation_buttons,
    resume_buttons,
    summary_buttons,
)
from handlers.handoff import FROM_FORM, hand_off
from handlers.menu import show_menu
from handlers.open_request import tell_already_open

NAME = "support_request"
OPTION_PREFIX = "opt:"


def _local_today(turn: Turn) -> date:
    return turn.now.astimezone(turn.profile.tz).date()


def _keep_note(draft: dict[str, Any], field: MediaField, text: str) -> None:
    """Add what was typed at a documents question to the request's note for it."""
    key = field.id + NOTE_SUFFIX
    note = text.strip()
    if note:
        draft["answers"][key] = "\n".join(filter(None, [draft["answers"].get(key), note]))


class SupportRequestFlow(Flow):
    name = NAME

    # -- entering ---------------------------------------------------------------------------
    async def start(self, turn: Turn) -> None:
        draft = turn.state.drafts.get(NAME)
        if draft and self._expired(turn, draft):
            turn.state.drafts.pop(NAME, None)
            turn.say(
                turn.t.gettext(N_("Your unfinished application had expired, so we start again."))
            )
            draft = None
        if draft:
            turn.state.step = "resume"
            started = datetime.fromisoformat(draft["started"])
            turn.say(
                turn.t.gettext(
                    N_("You have an unfinished application started on {date}. Continue it?")
                ).format(date=turn.t.format_date(started.astimezone(turn.profile.tz).date())),
                resume_buttons(turn),
            )
            return
        self._new_draft(turn)
        count = len(turn.profile.support_form.fields)
        turn.say(
            turn.t.gettext(
                N_(
                    "Let us fill in the support request together: {count} questions, one at a "
                    "time. Write “back” to return to the previous question or “cancel” to stop."
                )
            ).format(count=count)
        )
        self._ask(turn)

    def _new_draft(self, turn: Turn) -> dict[str, Any]:
        now = turn.now.isoformat()
        draft: dict[str, Any] = {
            "answers": {},
            "index": 0,
            "stage": "field",
            "editing": False,
            "started": now,
            "updated": now,
        }
        turn.state.drafts[NAME] = draft
        turn.state.step = "form"
        return draft

    def _expired(self, turn: Turn, draft: dict[str, Any]) -> bool:
        updated = datetime.fromisoformat(draft["updated"])
        return turn.now - updated > timedelta(hours=turn.profile.support_form.expiry_hours)

    # -- every later message ----------------------------------------------------------------
    async def handle(self, turn: Turn) -> None:
        draft = turn.state.drafts.get(NAME)
        if draft is None or self._expired(turn, draft):
            await self.start(turn)
            return
        if said(turn, CANCEL_WORDS) or turn.message.button_id == CANCEL:
            self._cancel(turn)
            return
        draft["updated"] = turn.now.isoformat()
        if said(turn, STAFF_WORDS):
            # The policy: when the procedure is unclear, refer them to the officer of the
            # request's domain (social research). The draft stays, to be resumed later.
            await hand_off(turn, FROM_FORM, self._domain(turn, draft))
            return
        if turn.state.step == "resume":
            choice = choose(turn, resume_buttons(turn))
            if choice is None and said(turn, CONTINUE_WORDS):
                choice = CONTINUE
            if choice == RESTART:
                turn.state.drafts.pop(NAME, None)
                await self.start(turn)
            elif choice == CONTINUE or yes_no(turn) == YES:
                turn.state.step = "form"
                self._ask_current(turn, draft)
            else:
                await self.start(turn)
            return
        stage = draft["stage"]
        if stage == "field":
            await self._answer(turn, draft)
        elif stage == "summary":
            self._summary_choice(turn, draft)
        elif stage == "pick_edit":
            self._pick_edit(turn, draft)
        elif stage == "attest":
            await self._attest(turn, draft)

    def ask_again(self, turn: Turn) -> bool:
        draft = turn.state.drafts.get(NAME)
        if turn.state.step != "form" or draft is None or self._expired(turn, draft):
            return False
        self._ask_current(turn, draft)
        return True

    def _domain(self, turn: Turn, draft: dict[str, Any]) -> str | None:
        """The domain of the request type chosen so far, if any."""
        for field in turn.profile.support_form.fields:
            if isinstance(field, ChoiceField) and field.options_from == "request_types":
                chosen = turn.profile.get_request_type(draft["answers"].get(field.id) or "")
                return chosen.domain if chosen else None
        return None

    def _cancel(self, turn: Turn) -> None:
        turn.state.drafts.pop(NAME, None)
        turn.state.enter(None)
        show_menu(
            turn, turn.t.gettext(N_("Your application was cancelled; nothing was submitted."))
        )

    # -- questions --------------------------------------------------------------------------
    def _field(self, turn: Turn, draft: dict[str, Any]) -> FormField:
        return turn.profile.support_form.fields[draft["index"]]

    def _ask_current(self, turn: Turn, draft: dict[str, Any]) -> None:
        if draft["stage"] == "pick_edit":  # resumed: the summary first, then its options
            draft["stage"] = "summary"
        {
            "field": self._ask,
            "summary": self._show_summary,
            "pick_edit": self._show_summary,
            "attest": self._show_attestation,
        }[draft["stage"]](turn)

    def _ask(self, turn: Turn, lead: str | None = None) -> None:
        draft = turn.state.drafts[NAME]
        field = self._field(turn, draft)
        t = turn.t
        fields = turn.profile.support_form.fields
        lines = [lead] if lead else []
        lines.append(
            t.gettext(N_("Question {number} of {count}:")).format(
                number=draft["index"] + 1, count=len(fields)
            )
            + " "
            + field.label.get(t.language)
        )
        if field.help:
            lines.append(field.help.get(t.language))
        if not field.required:
            lines.append(t.gettext(N_("This one is optional: write “skip” to leave it.")))
        buttons = [
            Button(OPTION_PREFIX + option.id, option.label.get(t.language))
            for option in field.offered_options(turn.profile.request_types)
        ]
        if isinstance(field, MediaField):
            lines.append(t.gettext(N_("Send the files as photos or PDF, then write “done”.")))
        turn.say("\n".join(lines), buttons)

    async def _answer(self, turn: Turn, draft: dict[str, Any]) -> None:
        field = self._field(turn, draft)
        t = turn.t
        if said(turn, BACK_WORDS):
            draft["index"] = max(0, draft["index"] - 1)
            self._ask(turn)
            return
        if isinstance(field, MediaField):
            await self._answer_media(turn, draft, field)
            return
        if said(turn, SKIP_WORDS):
            if field.required:
                self._ask(turn, t.gettext(N_("This question cannot be skipped.")))
                return
            draft["answers"][field.id] = None
            await self._next(turn, draft)
            return
        text = turn.message.text
        button = turn.message.button_id or ""
        if button.startswith(OPTION_PREFIX):
            text = button.removeprefix(OPTION_PREFIX)
        result = field.validate_answer(
            text, today=_local_today(turn), request_types=turn.profile.request_types
        )
        if isinstance(result, Invalid):
            self._ask(turn, result.render(t))
            return
        draft["answers"][field.id] = result.value
        if field.kind == "national_id":
            existing = await turn.records.open_request(result.value, turn.contact_id)
            if existing is not None:
                tell_already_open(turn, existing, NAME)
                return
        await self._next(turn, draft)

    async def _answer_media(self, turn: Turn, draft: dict[str, Any], field: MediaField) -> None:
        t = turn.t
        files: list[dict[str, Any]] = draft["answers"].setdefault(field.id, []) or []
        draft["answers"][field.id] = files
        if turn.message.media:
            types = [m.content_type for m in turn.message.media]
            result = field.validate_files(types, len(files))
            if isinstance(result, Invalid):
                turn.say(result.render(t))
                return
            # The files arrive later (the worker fetches them): each keeps its message and
            # position, by which bot.storage.attachments finds the stored file.
            files.extend(
                reference(turn.message_id, position, media)
                for position, media in enumerate(turn.message.media)
            )
            _keep_note(draft, field, turn.message.text)  # a caption is kept too
            if len(files) < field.max_files:
                turn.say(
                    t.ngettext(
                        "Received {n} file. Send more, or write “done”.",
                        "Received {n} files. Send more, or write “done”.",
                        len(files),
                    ).format(n=len(files))
                )
                return
            await self._next(turn, draft)
            return
        if said(turn, DONE_WORDS) or said(turn, NO_WORDS) or said(turn, SKIP_WORDS):
            # "No (more)", "done" and "skip" all mean: go on without further files, when the
            # question allows it.
            if len(files) >= field.min_files or (not field.required and not files):
                await self._next(turn, draft)
                return
            result = field.validate_answer(turn.message.text, today=_local_today(turn))
            self._ask(turn, result.render(t) if isinstance(result, Invalid) else None)
            return
        # Anything else typed here is something the applicant wants us to know: it is kept
        # with the request (staff read it) rather than dropped.
        _keep_note(draft, field, turn.message.text)
        turn.say(
            t.gettext(
                N_(
                    "Thank you, I have added what you wrote to your request as a note. "
                    "Send the files now, or write “done” to go on."
                )
            )
        )

    async def _next(self, turn: Turn, draft: dict[str, Any]) -> None:
        fields = turn.profile.support_form.fields
        if draft["editing"] or draft["index"] + 1 >= len(fields):
            draft["editing"] = False
            draft["stage"] = "summary"
            self._show_summary(turn)
            return
        draft["index"] += 1
        self._ask(turn)

    # -- summary, edits, attestation --------------------------------------------------------
    def _show_summary(self, turn: Turn) -> None:
        draft = turn.state.drafts[NAME]
        t = turn.t
        lines = [t.gettext(N_("Please review your answers:"))]
        # Bullets, not numbers: the options under the summary are the numbered choices.
        for field in turn.profile.support_form.fields:
            value = field.display(
                draft["answers"].get(field.id), t, request_types=turn.profile.request_types
            )
            lines.append(f"• {field.label.get(t.language)}: {value}")
            note = draft["answers"].get(field.id + NOTE_SUFFIX)
            if note:
                lines.append("  " + t.gettext(N_("Your note: {note}")).format(note=note))
        turn.say("\n".join(lines), summary_buttons(turn))

    def _summary_choice(self, turn: Turn, draft: dict[str, Any]) -> None:
        buttons = summary_buttons(turn)
        choice = choose(turn, buttons)
        if choice is None:
            if said(turn, SUBMIT_WORDS) or yes_no(turn) == YES:
                choice = SUBMIT
            elif said(turn, EDIT_WORDS):
                choice = EDIT
        if choice == SUBMIT:
            draft["stage"] = "attest"
            self._show_attestation(turn)
        elif choice == EDIT:
            draft["stage"] = "pick_edit"
            self._ask_which_answer(turn)
        elif choice == CANCEL:
            self._cancel(turn)
        else:
            # Only the choice again, not the whole summary (on SMS that is many segments).
            turn.say(turn.t.gettext(N_("Please choose one of these options:")), buttons)

    def _ask_which_answer(self, turn: Turn, lead: str | None = None) -> None:
        t = turn.t
        lines = [lead] if lead else []
        lines.append(t.gettext(N_("Which answer do you want to change? Write its number:")))
        lines.extend(
            f"{number}. {field.label.get(t.language)}"
            for number, field in enumerate(turn.profile.support_form.fields, 1)
        )
        turn.say("\n".join(lines))

    def _pick_edit(self, turn: Turn, draft: dict[str, Any]) -> None:
        fields = turn.profile.support_form.fields
        buttons = [Button(f"edit:{f.id}", f.label.get(turn.t.language)) for f in fields]
        chosen = choose(turn, buttons)
        if chosen is None:
            self._ask_which_answer(
                turn,
                turn.t.gettext(N_("Please write a number from 1 to {count}.")).format(
                    count=len(fields)
                ),
            )
            return
        draft["index"] = next(i for i, b in enumerate(buttons) if b.id == chosen)
        draft["editing"] = True
        draft["stage"] = "field"
        if isinstance(fields[draft["index"]], MediaField):
            draft["answers"][fields[draft["index"]].id] = []
        self._ask(turn)

    def _show_attestation(self, turn: Turn) -> None:
        attestation = turn.profile.support_form.attestation
        t = turn.t
        turn.say(
            attestation.text.get(t.language)
            + "\n\n"
            + t.gettext(N_("Do you confirm this declaration?")),
            attestation_buttons(turn),
        )

    async def _attest(self, turn: Turn, draft: dict[str, Any]) -> None:
        choice = choose(turn, attestation_buttons(turn))
        if choice == CANCEL:
            self._cancel(turn)
            return
        if choice != ATTEST and yes_no(turn) != YES:
            turn.say(
                turn.t.gettext(
                    N_("The request can only be submitted once you confirm the declaration.")
                )
            )
            self._show_attestation(turn)
            return
        await self._submit(turn, draft)

    async def _submit(self, turn: Turn, draft: dict[str, Any]) -> None:
        profile = turn.profile
        answers = draft["answers"]
        type_field = next(
            f
            for f in profile.support_form.fields
            if isinstance(f, ChoiceField) and f.options_from == "request_types"
        )
        national_id = next(
            answers[f.id] for f in profile.support_form.fields if f.kind == "national_id"
        )
        existing = await turn.records.open_request(national_id, turn.contact_id)
        if existing is not None:  # filed meanwhile, from another contact
            tell_already_open(turn, existing, NAME)
            return
        days = profile.sla.request_decision_days
        request = FileRequest(
            reference=new_reference(REQUEST_PREFIX),
            request_type=answers[type_field.id],
            national_id=national_id,
            answers=dict(answers),
            attestation_version=profile.support_form.attestation.version,
            attested_at=turn.now,
            decision_due=request_decision_due(profile, turn.now),
            full_name=profile.support_form.name_answer(answers),
        )
        turn.effect(request)
        turn.state.drafts.pop(NAME, None)
        turn.state.enter(None)
        t = turn.t
        due = request.decision_due.astimezone(profile.tz).date()
        turn.say(
            t.gettext(
                N_(
                    "Your request has been received. Its reference number is {reference}.\n"
                    "It goes to the research committee, which takes at least {period} to "
                    "study it, so expect its answer from {date}.\n"
                    "You will get a message here whenever its status changes, and you can "
                    "check it at any time with “Request status”."
                )
            ).format(
                reference=request.reference, period=t.format_days(days), date=t.format_date(due)
            )
        )
        await offer_updates_once(turn)
