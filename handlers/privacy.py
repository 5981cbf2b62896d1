"""Privacy and my data (policy 004, "privacy of information"): the privacy notice, what the
association holds about the beneficiary, a request to delete it, and reporting a violation.

The policy promises confidentiality, no disclosure to third parties without written consent or
an order of a judicial or regulatory authority, a published notice of how data is handled, and
a way to report a violation of the privacy policy; deletion is done by staff, who keep what the
law requires for its period.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import babel.lists

from bot.effects import CreateTask
from bot.i18n import Translator, translator
from bot.profile import Profile
from bot.storage.contacts import ContactSummary, HeldComplaint, HeldRequest
from bot.storage.references import TASK_PREFIX, new_reference
from handlers.base import N_, Flow, Turn
from handlers.choices import BACK_WORDS, CANCEL_WORDS, YES, said, yes_no, yes_no_buttons
from handlers.complaint import CHOOSE_AGAIN, start_privacy_report
from handlers.consent import ANSWER_YES_NO, NOTHING_CHANGED
from handlers.menu import LANGUAGE_NAME, show_menu
from handlers.privacy_options import (
    CHOOSE,
    DELETE,
    NAME,
    NOTICE,
    REPORT,
    SUMMARY,
    chosen_option,
    show_privacy_options,
)

CONFIRM_DELETE = "confirm_delete"
DATA_DELETION = "data_deletion"

NOTICE_TEXT = N_(
    "Our privacy notice explains what data we collect, how we use and protect it, and your "
    "rights: {url}"
)
SUMMARY_HEADING = N_("This is what we hold about you:")
SUMMARY_FOOTER = N_(
    "Your name, ID number, addresses and messages are stored encrypted, and we do not disclose "
    "them to anyone else unless a judicial or regulatory authority orders it."
)
CONFIRM_DELETION = N_(
    "You are asking us to delete your personal data. A member of staff will handle the request "
    "and may contact you here to make sure it is you. Send the request?"
)
NOTHING_DELETED = N_("Nothing was deleted.")
DELETION_RECORDED = N_(
    "Your request to delete your data has been recorded with reference number {reference}. A "
    "member of staff will handle it and tell you here when it is done. Please note that some "
    "records, such as decisions on support requests and complaints, may have to be kept for the "
    "period the law requires; they stay confidential and are deleted when that period ends."
)

TASK_KINDS = {DATA_DELETION: N_("deleting your data")}

CHANNEL_NAMES = {
    "whatsapp": N_("WhatsApp"),
    "sms": N_("SMS"),
    "telegram": N_("Telegram"),
    "email": N_("Email"),
    "webchat": N_("Web chat"),
    "terminal": N_("Terminal"),
}


def _list(t: Translator, items: list[str]) -> str:
    return babel.lists.format_list(items, locale=t.language) if items else t.gettext(N_("none"))


def _files(t: Translator, count: int) -> str:
    return t.ngettext("{n} attached file", "{n} attached files", count).format(n=count)


def _request_line(t: Translator, held: HeldRequest, profile: Profile) -> str:
    """A request's line: the labels of the answers it keeps, in the form's order (a field
    since removed from the profile still counts, by its id), and its files."""
    fields = {field.id: field for field in profile.support_form.fields}
    order = [field.id for field in profile.support_form.fields]
    answered = sorted(held.answered, key=lambda key: order.index(key) if key in order else 999)
    details = [
        fields[key].label.get(t.language) if key in fields else key
        for key in answered
        if key not in fields or fields[key].kind != "media"
    ]
    if held.files:
        details.append(_files(t, held.files))
    return t.gettext(N_("Support request {reference}: {details}")).format(
        reference=held.reference, details=_list(t, details)
    )


def _complaint_line(t: Translator, held: HeldComplaint) -> str:
    details = [t.gettext(N_("your description"))]
    if held.files:
        details.append(_files(t, held.files))
    return t.gettext(N_("Complaint {reference}: {details}")).format(
        reference=held.reference, details=_list(t, details)
    )


def describe_summary(t: Translator, summary: ContactSummary, profile: Profile) -> str:
    """What we hold about a contact, as a readable list in their language: the contact's own
    details, then each request and complaint with what it keeps."""
    held, not_held = t.gettext(N_("held")), t.gettext(N_("not held"))
    channels = [t.gettext(CHANNEL_NAMES.get(kind, kind)) for kind in summary.channels]
    language = (
        translator(summary.language).gettext(LANGUAGE_NAME)
        if summary.language
        else t.gettext(N_("not set"))
    )
    if summary.updates_consent is True:
        updates = t.gettext(N_("you agreed to receive them"))
    elif summary.updates_consent is False:
        updates = t.gettext(N_("you asked not to receive them"))
    else:
        updates = t.gettext(N_("you have not told us yet"))
    messages = t.ngettext("{n} message", "{n} messages", summary.messages).format(
        n=summary.messages
    )
    since = t.format_date(summary.since.astimezone(ZoneInfo(profile.timezone)).date())
    items = [
        t.gettext(N_("Channels you wrote to us on: {channels}")).format(
            channels=_list(t, channels)
        ),
        t.gettext(N_("Language: {language}")).format(language=language),
        t.gettext(N_("Messages between us: {messages}")).format(messages=messages),
    ]
    # A request keeps the applicant's name among its answers, listed on its own line.
    if summary.has_name or not summary.requests:
        items.append(
            t.gettext(N_("Your name: {held}")).format(held=held if summary.has_name else not_held)
        )
    items.append(
        t.gettext(N_("National ID number: {held}")).format(
            held=held if summary.has_national_id else not_held
        )
    )
    if summary.requests:
        items.extend(_request_line(t, request, profile) for request in summary.requests)
    else:
        items.append(
            t.gettext(N_("Support requests: {references}")).format(references=_list(t, []))
        )
    if summary.complaints:
        items.extend(_complaint_line(t, complaint) for complaint in summary.complaints)
    else:
        items.append(t.gettext(N_("Complaints: {references}")).format(references=_list(t, [])))
    items.extend(
        t.gettext(N_("Request to our staff {reference}: {kind}")).format(
            reference=reference, kind=t.gettext(TASK_KINDS[kind]) if kind in TASK_KINDS else kind
        )
        for reference, kind in summary.tasks
    )
    items += [
        t.gettext(N_("Updates: {updates}")).format(updates=updates),
        t.gettext(N_("With us since: {date}")).format(date=since),
    ]
    lines = [t.gettext(SUMMARY_HEADING), *("• " + item for item in items)]
    return "\n".join([*lines, "", t.gettext(SUMMARY_FOOTER)])


def _ask_deletion(turn: Turn, lead: str | None = None) -> None:
    turn.state.step = CONFIRM_DELETE
    question = turn.t.gettext(CONFIRM_DELETION)
    turn.say(f"{lead}\n\n{question}" if lead else question, yes_no_buttons(turn.t))


class PrivacyFlow(Flow):
    name = NAME

    async def start(self, turn: Turn) -> None:
        show_privacy_options(turn)

    async def handle(self, turn: Turn) -> None:
        t = turn.t
        if said(turn, CANCEL_WORDS):
            turn.state.enter(None)
            show_menu(turn, t.gettext(NOTHING_CHANGED))
        elif turn.state.step == CONFIRM_DELETE:
            await self._confirm_deletion(turn)
        elif turn.state.step != CHOOSE:
            show_privacy_options(turn)
        elif said(turn, BACK_WORDS):
            turn.state.enter(None)
            show_menu(turn)
        else:
            await self._choose(turn)

    async def _choose(self, turn: Turn) -> None:
        t = turn.t
        choice = chosen_option(turn)
        if choice == NOTICE:
            turn.state.enter(None)
            show_menu(turn, t.gettext(NOTICE_TEXT).format(url=turn.profile.privacy_notice_url))
        elif choice == SUMMARY:
            summary = await turn.records.summary(turn.contact_id)
            turn.state.enter(None)
            show_menu(turn, describe_summary(t, summary, turn.profile))
        elif choice == DELETE:
            _ask_deletion(turn)
        elif choice == REPORT:
            await start_privacy_report(turn)
        else:
            show_privacy_options(turn, t.gettext(CHOOSE_AGAIN))

    async def _confirm_deletion(self, turn: Turn) -> None:
        t = turn.t
        if said(turn, BACK_WORDS):
            show_privacy_options(turn)
            return
        answer = yes_no(turn)
        if answer is None:
            _ask_deletion(turn, t.gettext(ANSWER_YES_NO))
            return
        turn.state.enter(None)
        if answer != YES:
            show_menu(turn, t.gettext(NOTHING_DELETED))
            return
        reference = new_reference(TASK_PREFIX)
        turn.effect(CreateTask(reference, DATA_DELETION, {"channel": turn.channel}))
        show_menu(turn, t.gettext(DELETION_RECORDED).format(reference=reference))
