"""The SLA watch: a periodic worker job that reminds, escalates and tells.

Every open case has deadlines from the profile (bot/work_calendar.py): a request's decision
(its clock stopped while it waits on the beneficiary), a complaint's first response and its
resolution, a hand-off's first answer. Before a deadline the responsible staff member (the
assignee, else the domain's officer) is reminded; after it the domain's manager is told;
a beneficiary whose decision is late is told so, with the new expected date. Each alert is
a UNIQUE row inserted before anything is sent (bot/storage/sla.py), so two workers, or a
retried job, never double one. New work (hand-offs, urgent complaints, low-rating follow-ups)
becomes staff notifications the same way; worker/staff_notify.py sends them as digests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from rq import Queue

from bot.i18n import N_, Translator, translator
from bot.models import OutboundMessage, Template
from bot.profile import Domain, Profile
from bot.storage import Store
from bot.storage.sla import Alert, NewNotification, NewWork, OpenCase
from bot.users import list_staff
from bot.whatsapp_window import REPLY_WAITING_TEMPLATE, window_at
from bot.work_calendar import (
    WorkCalendar,
    complaint_resolution_due,
    handoff_response_due,
)
from worker import defaults
from worker.context import WorkerContext
from worker.queues import enqueue_deliveries

LATE_TEMPLATE = "request_late"  # the profile's template for a late decision, if it has one
INTAKE_LOOKBACK = timedelta(days=7)  # new work this old is still announced after an outage

REMINDER = N_("Reminder: {what} {reference} is due {when}.")
OVERDUE = N_("Overdue: {what} {reference} was due {when}.")
NEW_HANDOFF = N_("New conversation handed to staff ({area}).")
URGENT_COMPLAINT = N_("Urgent complaint {reference}: {category}.")
FOLLOW_UP = N_("A beneficiary rated the service low: follow-up {reference}.")
WHAT = {
    "request": N_("support request"),
    "complaint": N_("complaint"),
    "handoff": N_("conversation"),
}
LATE_NOTICE = N_(
    "We apologise: the research committee's decision on your request {reference} is taking "
    "longer than we promised. We now expect to answer you by {date}. You will get a message "
    "here as soon as it is decided."
)


@dataclass(frozen=True)
class Deadline:
    case: OpenCase
    name: str  # decision | response | resolution
    due: datetime
    remind_at: datetime
    domain: Domain


def deadlines(profile: Profile, case: OpenCase) -> list[Deadline]:
    """The running deadlines of an open case (none while it waits on the beneficiary)."""
    before = profile.sla.reminders
    if case.case_kind == "request":
        kind = profile.get_request_type(case.what)
        domain = _domain(profile, kind.domain if kind else None)
        if case.status == "needs_info" or case.due_at is None:
            return []  # the clock is stopped
        remind_at = case.due_at - timedelta(hours=before.request_hours)
        return [Deadline(case, "decision", case.due_at, remind_at, domain)]
    if case.case_kind == "complaint":
        category = profile.get_complaint_category(case.what)
        domain = _domain(profile, category.domain if category else None)
        remind = timedelta(hours=before.complaint_hours)
        found = []
        if not case.responded and case.due_at is not None:
            found.append(Deadline(case, "response", case.due_at, case.due_at - remind, domain))
        resolve = complaint_resolution_due(profile, case.what, case.opened_at)
        found.append(Deadline(case, "resolution", resolve, resolve - remind, domain))
        return found
    if case.responded:
        return []
    due = handoff_response_due(profile, case.opened_at)
    remind = timedelta(hours=before.handoff_hours)
    return [Deadline(case, "response", due, due - remind, _domain(profile, case.what))]


def _domain(profile: Profile, domain_id: str | None) -> Domain:
    return (profile.get_domain(domain_id) if domain_id else None) or profile.default_domain()


def console_link(public_url: str, kind: str, reference: str) -> str:
    """The console page of an item, for staff to open from the notification."""
    base = public_url.rstrip("/") + "/console"
    paths = {"request": "/requests/", "complaint": "/complaints/", "handoff": "/conversations/"}
    return base + paths[kind] + reference if kind in paths else base + "/"


def recipients(profile: Profile, email: str | None) -> list[str]:
    """Where a notification for the staff member with `email` goes (the profile's channels)."""
    found = []
    if profile.notifications.email and email:
        found.append(f"email:{email.lower()}")
    if profile.notifications.telegram_chat_id:
        found.append(f"telegram:{profile.notifications.telegram_chat_id}")
    return found


async def staff_languages(store: Store) -> dict[str, str]:
    """Each staff member's chosen console language, by email (those who chose one)."""
    return {m.email.lower(): m.language for m in await list_staff(store) if m.language}


def translator_for(recipient: str, languages: dict[str, str], default: Translator) -> Translator:
    """A notification's language: its recipient's, when the recipient is a staff member's
    email and they chose one in the console; otherwise the profile's (the staff chat)."""
    channel, _, address = recipient.partition(":")
    language = languages.get(address.lower()) if channel == "email" else None
    return translator(language) if language else default


class SlaWatch:
    """One pass over the open cases and the new work, at `now` (injectable)."""

    def __init__(self, context: WorkerContext, queue: Queue, now: datetime) -> None:
        self.context, self.queue, self.now = context, queue, now
        self.profile = context.profile
        self.t: Translator = translator(self.profile.default_language)
        self.calendar = WorkCalendar(self.profile)
        self.languages: dict[str, str] = {}

    async def run(self) -> dict[str, int]:
        counts = {"remind": 0, "escalate": 0, "late_notice": 0, "new_work": 0}
        self.languages = await staff_languages(self.context.store)
        for case in await self.context.store.sla.open_cases():
            for deadline in deadlines(self.profile, case):
                for kind in await self._alert(deadline):
                    counts[kind] += 1
        counts["new_work"] = await self._intake()
        return counts

    async def _alert(self, d: Deadline) -> list[str]:
        sent: list[str] = []
        if self.now >= d.due:
            manager = d.domain.manager or d.domain.officer
            if await self._staff_alert(d, "escalate", manager.email, OVERDUE):
                sent.append("escalate")
            if d.case.case_kind == "request" and await self._late_notice(d):
                sent.append("late_notice")
        elif self.now >= d.remind_at:
            responsible = d.case.assignee or d.domain.officer.email
            if await self._staff_alert(d, "remind", responsible, REMINDER):
                sent.append("remind")
        return sent

    def _t(self, recipient: str) -> Translator:
        """The recipient's own console language (a staff member's email), else the profile's."""
        return translator_for(recipient, self.languages, self.t)

    async def _staff_alert(self, d: Deadline, kind: str, email: str, text: str) -> bool:
        case = d.case

        def line(t: Translator) -> str:
            return t.gettext(text).format(
                what=t.gettext(WHAT[case.case_kind]),
                reference=case.reference,
                when=t.format_datetime(d.due, self.profile.timezone),
            )

        link = console_link(self.context.settings.public_url, case.case_kind, case.reference)
        key = f"sla:{case.case_kind}:{case.case_id}:{d.name}:{kind}:{int(d.due.timestamp())}"
        notes = [
            NewNotification(key, to, f"sla_{kind}", line(self._t(to)), link, self.now)
            for to in recipients(self.profile, email)
        ]
        alert = Alert(
            case.case_kind, case.case_id, d.name, kind, d.due, sent_to=email, created_at=self.now
        )
        return await self.context.store.sla.record_alert(alert, notes)

    async def _late_notice(self, d: Deadline) -> bool:
        """Tell the beneficiary, in their language and on their channel, once per deadline."""
        sla = self.context.store.sla
        route = await sla.late_notice_route(d.case.case_id)
        if route is None:
            return False
        expected = self.calendar.add_days(
            max(self.now, d.due), self.profile.sla.late_notice_extension_days
        )
        t = translator(route.language or self.profile.default_language)
        day = t.format_date(expected.astimezone(self.profile.tz).date())
        text = t.gettext(LATE_NOTICE).format(reference=d.case.reference, date=day)
        template = None
        if route.whatsapp and not window_at(route.last_inbound, self.now).open:
            name = LATE_TEMPLATE if LATE_TEMPLATE in self.profile.templates else None
            template = (
                Template(name, {"1": d.case.reference, "2": day})
                if name
                else Template(
                    REPLY_WAITING_TEMPLATE,
                    {"1": self.profile.short_name.get(self.profile.default_language)},
                )
            )
        alert = Alert("request", d.case.case_id, d.name, "late_notice", d.due,
                      sent_to=f"contact:{d.case.contact_id}", expected_at=expected,
                      created_at=self.now)  # fmt: skip
        message_id = await sla.record_late_notice(
            alert, route, OutboundMessage(text=text, template=template)
        )
        if message_id is None:
            return False
        await asyncio.to_thread(enqueue_deliveries, self.queue, [message_id])
        return True

    async def _intake(self) -> int:
        """New hand-offs, urgent complaints and low-rating follow-ups, as notifications."""
        notes: list[NewNotification] = []
        for work in await self.context.store.sla.new_work(self.now - INTAKE_LOOKBACK):
            notes += self._announce(work)
        return await self.context.store.sla.add_notifications(notes) if notes else 0

    def _announce(self, work: NewWork) -> list[NewNotification]:
        profile, url = self.profile, self.context.settings.public_url
        category = None
        if work.kind == "handoff":
            domain = _domain(profile, work.what)
            link = console_link(url, "handoff", str(work.conversation_id))
        elif work.kind == "urgent_complaint":
            category = profile.get_complaint_category(work.what)
            domain = _domain(profile, category.domain if category else None)
            link = console_link(url, "complaint", work.reference)
        else:
            domain = _domain(profile, work.what or None)
            link = console_link(url, "inbox", "")

        def text(t: Translator) -> str:
            if work.kind == "handoff":
                return t.gettext(NEW_HANDOFF).format(area=domain.label.get(t.language))
            if work.kind == "urgent_complaint":
                label = category.label.get(t.language) if category else work.what
                return t.gettext(URGENT_COMPLAINT).format(reference=work.reference, category=label)
            return t.gettext(FOLLOW_UP).format(reference=work.reference)

        key = f"{work.kind}:{work.item_id}"
        return [
            NewNotification(key, to, work.kind, text(self._t(to)), link, work.created_at)
            for to in recipients(profile, domain.officer.email)
        ]


async def watch(context: WorkerContext, queue: Queue, now: datetime) -> dict[str, int]:
    """One pass of the SLA watch (the periodic job's body)."""
    return await SlaWatch(context, queue, now).run()


def schedule_sla_watch(queue: Queue, delay_seconds: float = defaults.SLA_WATCH_SECONDS) -> None:
    """The next watch, under one job id so that several workers never double it."""
    queue.enqueue_in(
        timedelta(seconds=delay_seconds),
        "worker.jobs.sla_watch",
        job_id=defaults.sla_watch_job_id(queue.name),
        description="SLA reminders, escalations, staff notifications",
        result_ttl=defaults.RESULT_TTL_SECONDS,
    )
