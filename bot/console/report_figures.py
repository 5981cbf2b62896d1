"""The casework reports' figures, made from the rows of bot/storage/reports.py: messages per
channel per day, support requests by status and against their decision deadline,
complaints by category and time to resolve, and how long hand-offs waited for a person."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

import babel.dates

from bot.i18n import N_, Translator
from bot.profile import Profile
from bot.storage.casework import REQUEST_TRANSITIONS
from bot.storage.reports import ComplaintCase, DayCount, HandoffCase, RequestCase
from bot.text import normalize_digits
from handlers.request_status import STATUS_LABELS

from .casework_common import domain_label
from .charts import bar_chart, column_chart
from .complaints_pages import STATUSES as COMPLAINT_STATUSES
from .report_tables import (
    LATE,
    NO,
    ON_TIME,
    OPEN_IN_TIME,
    OPEN_LATE,
    YES,
    Section,
    Table,
    against_deadline,
    average,
    channel_label,
    days_between,
    hours_between,
    one_decimal,
    percent,
)
from .sla import add_working_hours

# Translators: the reports' section titles, chart titles and table columns.
MESSAGES = N_("Messages per channel per day")
RECEIVED_PER_DAY = N_("Messages received per day")
SENT_PER_DAY = N_("Messages sent per day")
DAY, CHANNEL, INBOUND, OUTBOUND = N_("Day"), N_("Channel"), N_("Received"), N_("Sent")
REQUESTS = N_("Support requests: status and decision time")
BY_STATUS = N_("Support requests by status")
DECISIONS_AGAINST = N_("Decisions against the deadline")
REFERENCE, TYPE, STATUS = N_("Reference"), N_("Type"), N_("Status")
SUBMITTED, DUE, DECIDED = N_("Submitted"), N_("Decision due"), N_("Decided")
DECISION, DAYS_TO_DECISION = N_("Decision"), N_("Days to decision")
DEADLINE = N_("Against the deadline")
AVERAGE_DECISION = N_("Average time to a decision: {days} days.")
COMPLAINTS = N_("Complaints: categories and time to resolve")
BY_CATEGORY = N_("Complaints by category")
RESOLVE_BY_CATEGORY = N_("Average days to resolve, by category")
CATEGORY, URGENT, FILED = N_("Category"), N_("Urgent"), N_("Filed")
RESPOND_BY, CLOSED, DAYS_TO_RESOLVE = N_("Respond by"), N_("Closed"), N_("Days to resolve")
HANDOFFS = N_("Hand-offs: time to the first staff reply")
FIRST_REPLY_TIMES = N_("Time to the first staff reply")
HANDOFF, DOMAIN, REASON, OPENED = N_("Hand-off"), N_("Domain"), N_("Reason"), N_("Opened")
FIRST_REPLY, REPLIED_BY, HOURS_TO_REPLY = N_("First reply"), N_("By"), N_("Hours to reply")
HANDOFF_DEADLINE = N_("Answered within {hours} working hours: {share} of the hand-offs.")
NO_CASES = N_("Nothing in this period.")
# Translators: how long a hand-off waited for its first staff reply.
WAITS = (
    (1, N_("Within an hour")),
    (4, N_("1 to 4 hours")),
    (24, N_("4 to 24 hours")),
    (None, N_("More than a day")),
)
NOT_ANSWERED = N_("Not answered yet")
# Translators: why a conversation was handed to staff (handlers/handoff.py's reasons).
REASONS = {
    "requested": N_("Asked for staff"),
    "misunderstood": N_("The assistant did not understand"),
    "form": N_("During a form"),
}


def short_day(t: Translator, day: date) -> str:
    return normalize_digits(babel.dates.format_date(day, "d MMM", locale=t.language))


def messages_section(t: Translator, counts: list[DayCount], first: date, last: date) -> Section:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    channels = sorted({c.channel for c in counts})
    labels = [short_day(t, day) for day in days]
    at = {(c.day, c.channel): c for c in counts}
    charts = []
    for chart_id, title, inbound in (
        ("messages-in", RECEIVED_PER_DAY, True),
        ("messages-out", SENT_PER_DAY, False),
    ):
        series = []
        for channel in channels:
            values = []
            for day in days:
                count = at.get((day, channel))
                values.append(0 if count is None else count.inbound if inbound else count.outbound)
            series.append((channel_label(t, channel), values))
        totals = [sum(values[n] for _, values in series) for n in range(len(days))]
        shown = [t.format_number(total) for total in totals] if len(days) <= 31 else None
        charts.append(
            column_chart(
                chart_id,
                t.gettext(title),
                labels,
                series,
                t.direction == "rtl",
                shown,
                t.format_number,
            )
        )
    table = Table(
        "messages",
        t.gettext(MESSAGES),
        (t.gettext(DAY), t.gettext(CHANNEL), t.gettext(INBOUND), t.gettext(OUTBOUND)),
        [(c.day, channel_label(t, c.channel), c.inbound, c.outbound) for c in counts],
    )
    return Section("messages", t.gettext(MESSAGES), charts, [table])


def requests_section(
    t: Translator, profile: Profile, cases: list[RequestCase], now: datetime
) -> Section:
    rtl = t.direction == "rtl"
    statuses = Counter(c.status for c in cases)
    by_status = [
        (t.gettext(STATUS_LABELS.get(s, s)), statuses[s], t.format_number(statuses[s]))
        for s in REQUEST_TRANSITIONS
    ]
    standing = Counter(against_deadline(t, c.decided_at, c.decision_due, now) for c in cases)
    outcomes = [t.gettext(m) for m in (ON_TIME, LATE, OPEN_IN_TIME, OPEN_LATE)]
    against = [(o, standing[o], t.format_number(standing[o])) for o in outcomes]
    rows = []
    for c in cases:
        found = profile.get_request_type(c.request_type)
        rows.append(
            (
                c.reference,
                found.label.get(t.language) if found else c.request_type,
                channel_label(t, c.channel),
                t.gettext(STATUS_LABELS.get(c.status, c.status)),
                c.submitted_at,
                c.decision_due,
                c.decided_at,
                t.gettext(STATUS_LABELS[c.decision]) if c.decision else None,
                _rounded(days_between(c.submitted_at, c.decided_at)),
                against_deadline(t, c.decided_at, c.decision_due, now),
            )
        )
    columns = (REFERENCE, TYPE, CHANNEL, STATUS, SUBMITTED, DUE, DECIDED, DECISION)
    table = Table(
        "requests",
        t.gettext(REQUESTS),
        tuple(t.gettext(c) for c in (*columns, DAYS_TO_DECISION, DEADLINE)),
        rows,
        per_case=True,
    )
    decided = [d for c in cases if (d := days_between(c.submitted_at, c.decided_at)) is not None]
    mean = average(decided)
    notes = [t.gettext(AVERAGE_DECISION).format(days=one_decimal(t, mean))] if mean else []
    charts = [
        bar_chart("requests-status", t.gettext(BY_STATUS), by_status, rtl),
        bar_chart("requests-deadline", t.gettext(DECISIONS_AGAINST), against, rtl),
    ]
    return Section("requests", t.gettext(REQUESTS), charts, [table], notes)


def complaints_section(
    t: Translator, profile: Profile, cases: list[ComplaintCase], now: datetime
) -> Section:
    rtl = t.direction == "rtl"
    ids = [c.id for c in profile.complaint_categories]
    ids += sorted({c.category for c in cases} - set(ids))

    def label(category: str) -> str:
        found = profile.get_complaint_category(category)
        return found.label.get(t.language) if found else category

    counted = Counter(c.category for c in cases)
    by_category = [(label(i), counted[i], t.format_number(counted[i])) for i in ids]
    resolve = []
    for category in ids:
        spans = [
            d
            for c in cases
            if c.category == category and (d := days_between(c.created_at, c.closed_at))
        ]
        mean = average(spans)
        resolve.append((label(category), mean or 0, one_decimal(t, mean) if mean else "—"))
    rows = [
        (
            c.reference,
            label(c.category),
            t.gettext(YES if c.urgent else NO),
            channel_label(t, c.channel),
            t.gettext(COMPLAINT_STATUSES.get(c.status, c.status)),
            c.created_at,
            c.respond_by,
            c.closed_at,
            _rounded(days_between(c.created_at, c.closed_at)),
            against_deadline(t, c.closed_at, c.respond_by, now),
        )
        for c in cases
    ]
    columns = (REFERENCE, CATEGORY, URGENT, CHANNEL, STATUS, FILED, RESPOND_BY, CLOSED)
    table = Table(
        "complaints",
        t.gettext(COMPLAINTS),
        tuple(t.gettext(c) for c in (*columns, DAYS_TO_RESOLVE, DEADLINE)),
        rows,
        per_case=True,
    )
    charts = [
        bar_chart("complaints-category", t.gettext(BY_CATEGORY), by_category, rtl),
        bar_chart("complaints-resolve", t.gettext(RESOLVE_BY_CATEGORY), resolve, rtl),
    ]
    return Section("complaints", t.gettext(COMPLAINTS), charts, [table])


def handoffs_section(
    t: Translator, profile: Profile, cases: list[HandoffCase], now: datetime
) -> Section:
    hours = profile.sla.handoff_response_hours
    waits: Counter[str] = Counter()
    within = 0
    rows = []
    for c in cases:
        waited = hours_between(c.opened_at, c.first_reply_at)
        due = add_working_hours(profile, c.opened_at, hours)
        within += c.first_reply_at is not None and c.first_reply_at <= due
        waits[_wait_label(waited)] += 1
        rows.append(
            (
                c.id,
                domain_label(profile, c.domain, t.language),
                t.gettext(REASONS[c.reason]) if c.reason in REASONS else c.reason,
                c.opened_at,
                c.first_reply_at,
                c.first_reply_by,
                _rounded(waited),
                against_deadline(t, c.first_reply_at, due, now),
            )
        )
    order = [label for _, label in WAITS] + [NOT_ANSWERED]
    bars = [(t.gettext(m), waits[m], t.format_number(waits[m])) for m in order]
    columns = (HANDOFF, DOMAIN, REASON, OPENED, FIRST_REPLY, REPLIED_BY, HOURS_TO_REPLY, DEADLINE)
    table = Table(
        "handoffs",
        t.gettext(HANDOFFS),
        tuple(t.gettext(c) for c in columns),
        rows,
        per_case=True,
    )
    notes = []
    if cases:
        share = percent(t, within / len(cases))
        notes.append(t.gettext(HANDOFF_DEADLINE).format(hours=t.format_number(hours), share=share))
    chart = bar_chart("handoffs-wait", t.gettext(FIRST_REPLY_TIMES), bars, t.direction == "rtl")
    return Section("handoffs", t.gettext(HANDOFFS), [chart], [table], notes)


def _wait_label(waited: float | None) -> str:
    if waited is None:
        return NOT_ANSWERED
    for limit, label in WAITS:
        if limit is None or waited < limit:
            return label
    return WAITS[-1][1]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
