"""Complaints and suggestions: category, description, optional attachments, then a reference
number and the date by which we will respond (the profile's SLA).

The policies ask the association to make reporting complaints easy and to handle them fast; a
privacy-violation report (policy 004) is a complaint of an urgent category, answered within
hours instead of days. "back" returns one question, "cancel" abandons with nothing filed.
"""

from __future__ import annotations

from typing import Any

from bot.effects import FileComplaint
from bot.i18n import Translator
from bot.models import Button
from bot.profile import ComplaintCategory
from bot.storage.attachments import reference
from bot.storage.references import COMPLAINT_PREFIX, new_reference
from bot.work_calendar import complaint_response_due
from handlers.base import N_, Flow, Turn
from handlers.choices import BACK_WORDS, CANCEL_WORDS, SKIP_WORDS, choose, said
from handlers.consent import offer_updates_once
from handlers.menu import show_menu
from handlers.privacy_options import show_privacy_options

NAME = "complaint"
CATEGORY, DESCRIPTION, ATTACHMENTS = "category", "description", "attachments"
FROM_PRIVACY = "from_privacy"
CATEGORY_PREFIX = "category:"
SKIP, DONE = "skip", "done"
PRIVACY_VIOLATION = "privacy_violation"
MIN_DESCRIPTION, MAX_DESCRIPTION = 10, 2000
MAX_ATTACHMENTS = 5

# Translators: comma-separated words that finish sending attachments.
DONE_WORDS = N_("done, finished, that's all")
HINT = N_("Write “back” to return to the previous question or “cancel” to stop.")
CHOOSE_CATEGORY = N_("What is your complaint or suggestion about? Choose one:")
CHOOSE_AGAIN = N_("Please choose one of the options: press it or write its number.")
DESCRIBE = N_(
    "About “{category}”: please describe it in your own words, for example what happened, "
    "when and where."
)
URGENT_NOTE = N_("We treat reports of this kind as urgent.")
TOO_SHORT = N_(
    "That is too short for us to follow it up: please write at least {length}, for example "
    "what happened, when and where."
)
TOO_LONG = N_("That is too long for one message: please shorten it to at most {length}.")
MEDIA_WITHOUT_TEXT = N_(
    "Thank you, we have kept your attachment. Please also describe the matter in words, in at "
    "least {length}."
)
ATTACH = N_(
    "If you have photos or documents about it, send them now. Otherwise write “skip” to send "
    "your complaint."
)
ATTACH_AGAIN = N_(
    "Please send a photo or a document, or write “skip” (or “done”) to send your complaint "
    "as it is."
)
TOO_MANY = N_("That is the most we can take with one complaint, so not all were kept.")
CANCELLED = N_("Your complaint was cancelled; nothing was sent.")
FILED = N_(
    "Thank you. We have recorded your complaint with reference number {reference}, and we "
    "will respond {when}. Keep this number to follow it up."
)
FILED_URGENT = N_(
    "Thank you for telling us. We have recorded your report as urgent with reference number "
    "{reference}, and we will respond {when}. Keep this number to follow it up."
)


def _category(turn: Turn) -> ComplaintCategory | None:
    category_id = turn.state.data.get(CATEGORY)
    return turn.profile.get_complaint_category(category_id) if category_id else None


def _category_buttons(turn: Turn) -> list[Button]:
    language = turn.t.language
    return [
        Button(CATEGORY_PREFIX + category.id, category.label.get(language))
        for category in turn.profile.complaint_categories
    ]


def characters(t: Translator, n: int) -> str:
    """ "10 characters", in the plural form the language needs."""
    return t.ngettext("{n} character", "{n} characters", n).format(n=n)


def within_days(t: Translator, n: int, date: str) -> str:
    # Translators: {date} is a full date, Hijri and Gregorian.
    return t.ngettext("within {n} day, by {date}", "within {n} days, by {date}", n).format(
        n=n, date=date
    )


def within_hours(t: Translator, n: int, date: str) -> str:
    # Translators: {date} is a full date (Hijri and Gregorian) and a time.
    return t.ngettext("within {n} hour, by {date}", "within {n} hours, by {date}", n).format(
        n=n, date=date
    )


def attachments_received(t: Translator, n: int) -> str:
    return t.ngettext(
        "We have {n} attachment. Send more, or write “done” to send your complaint.",
        "We have {n} attachments. Send more, or write “done” to send your complaint.",
        n,
    ).format(n=n)


def _attachments(turn: Turn) -> list[dict[str, Any]]:
    attachments: list[dict[str, Any]] = turn.state.data.setdefault(ATTACHMENTS, [])
    return attachments


def _continue_button(turn: Turn) -> Button:
    """ "Skip" before any attachment, "Done" after one."""
    if _attachments(turn):
        return Button(DONE, turn.t.gettext(N_("Done")))
    return Button(SKIP, turn.t.gettext(N_("Skip")))


def _keep_media(turn: Turn) -> int:
    """Keep the message's media, up to the limit; how many of them were kept."""
    attachments = _attachments(turn)
    room = max(0, MAX_ATTACHMENTS - len(attachments))
    for position, media in enumerate(turn.message.media[:room]):
        # Fetched later by the worker; found by its message and position (bot.storage.attachments).
        attachments.append(reference(turn.message_id, position, media))
    return min(room, len(turn.message.media))


def _with_lead(lead: str | None, text: str) -> str:
    return f"{lead}\n\n{text}" if lead else text


async def start_privacy_report(turn: Turn) -> None:
    """Report a privacy violation (from "Privacy and my data"): the complaint journey with the
    profile's privacy-violation category (or its first urgent one) already chosen."""
    profile = turn.profile
    category = profile.get_complaint_category(PRIVACY_VIOLATION) or next(
        (c for c in profile.complaint_categories if c.urgent), None
    )
    turn.state.enter(NAME)
    if category is None:
        ask_category(turn, turn.t.gettext(HINT))
        return
    turn.state.data.update({CATEGORY: category.id, FROM_PRIVACY: True})
    ask_description(turn, turn.t.gettext(HINT))


# -- questions ------------------------------------------------------------------------------
def ask_category(turn: Turn, lead: str | None = None) -> None:
    turn.state.step = CATEGORY
    turn.say(_with_lead(lead, turn.t.gettext(CHOOSE_CATEGORY)), _category_buttons(turn))


def ask_description(turn: Turn, lead: str | None = None) -> None:
    turn.state.step = DESCRIPTION
    t = turn.t
    category = _category(turn)
    lines = [lead] if lead else []
    lines.append(
        t.gettext(DESCRIBE).format(category=category.label.get(t.language) if category else "")
    )
    if category is not None and category.urgent:
        lines.append(t.gettext(URGENT_NOTE))
    turn.say("\n\n".join(lines))


def ask_attachments(turn: Turn, lead: str | None = None) -> None:
    turn.state.step = ATTACHMENTS
    t = turn.t
    count = len(_attachments(turn))
    text = attachments_received(t, count) if count else t.gettext(ATTACH)
    turn.say(_with_lead(lead, text), [_continue_button(turn)])


class ComplaintFlow(Flow):
    name = NAME

    async def start(self, turn: Turn) -> None:
        turn.state.enter(NAME)
        ask_category(turn, turn.t.gettext(HINT))

    async def handle(self, turn: Turn) -> None:
        if said(turn, CANCEL_WORDS):
            turn.state.enter(None)
            show_menu(turn, turn.t.gettext(CANCELLED))
            return
        step, back = turn.state.step, said(turn, BACK_WORDS)
        if step == CATEGORY:
            self._category(turn, back)
        elif step == DESCRIPTION:
            self._description(turn, back)
        elif step == ATTACHMENTS:
            await self._attachments(turn, back)
        else:
            await self.start(turn)

    def ask_again(self, turn: Turn) -> bool:
        ask = {CATEGORY: ask_category, DESCRIPTION: ask_description, ATTACHMENTS: ask_attachments}
        question = ask.get(turn.state.step or "")
        if question is None:
            return False
        question(turn)
        return True

    def _category(self, turn: Turn, back: bool) -> None:
        if back:
            turn.state.enter(None)
            show_menu(turn)
            return
        chosen = choose(turn, _category_buttons(turn))
        if chosen is None:
            ask_category(turn, turn.t.gettext(CHOOSE_AGAIN))
            return
        turn.state.data[CATEGORY] = chosen.removeprefix(CATEGORY_PREFIX)
        ask_description(turn)

    def _description(self, turn: Turn, back: bool) -> None:
        t = turn.t
        if back:
            if turn.state.data.get(FROM_PRIVACY):
                show_privacy_options(turn)
            else:
                ask_category(turn)
            return
        kept = _keep_media(turn)
        text = turn.message.text.strip()
        length = len(text)
        if not text and kept:
            turn.say(t.gettext(MEDIA_WITHOUT_TEXT).format(length=characters(t, MIN_DESCRIPTION)))
        elif length < MIN_DESCRIPTION:
            turn.say(t.gettext(TOO_SHORT).format(length=characters(t, MIN_DESCRIPTION)))
        elif length > MAX_DESCRIPTION:
            turn.say(t.gettext(TOO_LONG).format(length=characters(t, MAX_DESCRIPTION)))
        else:
            turn.state.data[DESCRIPTION] = text
            ask_attachments(turn)

    async def _attachments(self, turn: Turn, back: bool) -> None:
        t = turn.t
        if back:
            turn.state.data.pop(ATTACHMENTS, None)
            ask_description(turn)
            return
        if turn.message.media:
            kept = _keep_media(turn)
            ask_attachments(turn, None if kept == len(turn.message.media) else t.gettext(TOO_MANY))
            return
        finished = (
            turn.message.button_id in (SKIP, DONE)
            or choose(turn, [_continue_button(turn)]) is not None
            or said(turn, SKIP_WORDS)
            or said(turn, DONE_WORDS)
        )
        if finished:
            await self._file(turn)
        else:
            ask_attachments(turn, t.gettext(ATTACH_AGAIN))

    async def _file(self, turn: Turn) -> None:
        t, profile, data = turn.t, turn.profile, turn.state.data
        category = _category(turn)
        if category is None:  # the profile changed under a half-done complaint
            ask_category(turn)
            return
        sla = profile.sla
        reference = new_reference(COMPLAINT_PREFIX)
        respond_by = complaint_response_due(profile, category.id, turn.now)  # working time
        turn.effect(
            FileComplaint(
                reference=reference,
                category=category.id,
                urgent=category.urgent,
                description=data[DESCRIPTION],
                attachments=list(data.get(ATTACHMENTS) or []),
                respond_by=respond_by,
            )
        )
        if category.urgent:
            by = t.format_datetime(respond_by, profile.timezone)
            when = within_hours(t, sla.urgent_complaint_hours, by)
            text = t.gettext(FILED_URGENT)
        else:
            by = t.format_date(respond_by.astimezone(profile.tz).date())
            when = within_days(t, sla.complaint_response_days, by)
            text = t.gettext(FILED)
        turn.state.enter(None)
        turn.say(text.format(reference=reference, when=when))
        await offer_updates_once(turn)
