"""The service-quality reports' figures: satisfaction (the average rating and the share of
4 and 5) over time, per channel, per domain and per staff member, from the surveys rated in
the period; and the questions the FAQ could not answer, the most asked first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import babel.lists

from bot.i18n import N_, Translator
from bot.profile import Profile
from bot.storage.reports import SurveyAnswer
from bot.storage.unanswered import UnansweredGroup

from .casework_common import domain_label
from .charts import bar_chart, column_chart
from .inbox import KIND_LABELS
from .report_figures import CHANNEL, DOMAIN, REFERENCE, short_day
from .report_tables import Cell, Section, Table, channel_label, one_decimal, percent

# Translators: the satisfaction report's titles and columns.
SATISFACTION = N_("Beneficiary satisfaction")
OVER_TIME = N_("Average rating over time (1 to 5)")
BY_CHANNEL = N_("Average rating by channel")
BY_DOMAIN = N_("Average rating by domain")
BY_STAFF = N_("Average rating by staff member")
SUMMARY = N_("Satisfaction by period, channel, domain and staff member")
GROUPING, GROUP, ANSWERS = N_("Grouped by"), N_("Group"), N_("Answers")
AVERAGE, SHARE_HIGH = N_("Average rating"), N_("Rated 4 or 5")
WEEK_OF, PERIOD = N_("Week of {day}"), N_("Period")
STAFF_MEMBER, CASE, RATING, ANSWERED = N_("Staff member"), N_("Case"), N_("Rating"), N_("Answered")
SURVEYS = N_("Survey answers")
# Translators: a bar's figure in the satisfaction charts: the average, and the share of 4-5.
AVERAGE_AND_SHARE = N_("{average} · {share} rated 4–5")
NOBODY = N_("Not recorded")
UNANSWERED = N_("Questions the assistant could not answer")
TOP_QUESTIONS = N_("The most asked of them")
QUESTION, TIMES = N_("Question"), N_("Times asked")
NO_ANSWER, SUGGESTED = N_("No answer"), N_("Offered “did you mean”")
LAST_ASKED, CHANNELS = N_("Last asked"), N_("Channels")
TOP = 10


def _score(answers: list[SurveyAnswer]) -> tuple[int, float, float]:
    """(how many, the average rating, the share rated 4 or 5)."""
    n = len(answers)
    return n, sum(a.rating for a in answers) / n, sum(a.rating >= 4 for a in answers) / n


def _groups(
    answers: list[SurveyAnswer], key: Callable[[SurveyAnswer], str]
) -> list[tuple[str, list[SurveyAnswer]]]:
    groups: dict[str, list[SurveyAnswer]] = {}
    for answer in answers:
        groups.setdefault(key(answer), []).append(answer)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def satisfaction_section(
    t: Translator, profile: Profile, answers: list[SurveyAnswer], first: date, last: date
) -> Section:
    rtl = t.direction == "rtl"
    tz = profile.tz
    weekly = (last - first).days >= 31
    width = 7 if weekly else 1
    buckets = [first + timedelta(days=n) for n in range(0, (last - first).days + 1, width)]
    over: list[list[SurveyAnswer]] = [[] for _ in buckets]
    for answer in answers:
        over[((answer.answered_at.astimezone(tz).date() - first).days) // width].append(answer)
    means = [_score(group)[1] if group else 0 for group in over]
    shown = [one_decimal(t, m) if m else "" for m in means]
    labels = [short_day(t, day) for day in buckets]
    charts = [
        column_chart(
            "satisfaction-time",
            t.gettext(OVER_TIME),
            labels,
            [(t.gettext(AVERAGE), means)],
            rtl,
            shown,
            t.format_number,
        )
    ]
    summary: list[tuple[Cell, ...]] = []
    for day, group in zip(buckets, over, strict=True):
        if group:
            name: Cell = t.gettext(WEEK_OF).format(day=day.isoformat()) if weekly else day
            summary.append((t.gettext(PERIOD), name, *_figures(group)))
    groupings = (
        ("satisfaction-channel", BY_CHANNEL, CHANNEL, lambda a: channel_label(t, a.channel)),
        (
            "satisfaction-domain",
            BY_DOMAIN,
            DOMAIN,
            lambda a: domain_label(profile, a.domain, t.language) or t.gettext(NOBODY),
        ),
        ("satisfaction-staff", BY_STAFF, STAFF_MEMBER, lambda a: a.closed_by or t.gettext(NOBODY)),
    )
    for chart_id, title, column, key in groupings:
        bars = []
        for name, group in _groups(answers, key):
            _n, mean, share = _score(group)
            text = t.gettext(AVERAGE_AND_SHARE).format(
                average=one_decimal(t, mean), share=percent(t, share)
            )
            bars.append((name, mean, text))
            summary.append((t.gettext(column), name, *_figures(group)))
        charts.append(bar_chart(chart_id, t.gettext(title), bars, rtl, label_width=240))
    columns = (GROUPING, GROUP, ANSWERS, AVERAGE, SHARE_HIGH)
    tables = [
        Table("satisfaction", t.gettext(SUMMARY), tuple(t.gettext(c) for c in columns), summary),
        Table(
            "surveys",
            t.gettext(SURVEYS),
            tuple(
                t.gettext(c)
                for c in (CASE, REFERENCE, CHANNEL, DOMAIN, STAFF_MEMBER, RATING, ANSWERED)
            ),
            [
                (
                    t.gettext(KIND_LABELS[a.case_kind])
                    if a.case_kind in KIND_LABELS
                    else a.case_kind,
                    a.reference,
                    channel_label(t, a.channel),
                    domain_label(profile, a.domain, t.language),
                    a.closed_by,
                    a.rating,
                    a.answered_at,
                )
                for a in answers
            ],
            per_case=True,
        ),
    ]
    return Section("satisfaction", t.gettext(SATISFACTION), charts, tables)


def _figures(group: list[SurveyAnswer]) -> tuple[int, float, float]:
    """(answers, average to one decimal, share of 4-5 in per cent): as the charts show them."""
    n, mean, share = _score(group)
    return n, round(mean, 1), round(share * 100)


def unanswered_section(t: Translator, questions: list[UnansweredGroup]) -> Section:
    top = [(" ".join(q.question.split()), q.asks, t.format_number(q.asks)) for q in questions[:TOP]]
    chart = bar_chart(
        "unanswered-top", t.gettext(TOP_QUESTIONS), top, t.direction == "rtl", label_width=300
    )
    columns = (QUESTION, TIMES, NO_ANSWER, SUGGESTED, LAST_ASKED, CHANNELS)
    table = Table(
        "unanswered",
        t.gettext(UNANSWERED),
        tuple(t.gettext(c) for c in columns),
        [
            (
                q.question,
                q.asks,
                q.asks - q.suggested_asks,
                q.suggested_asks,
                q.last_asked,
                babel.lists.format_list(
                    [channel_label(t, c) for c in q.channels], locale=t.language
                ),
            )
            for q in questions
        ],
    )
    return Section("unanswered", t.gettext(UNANSWERED), [chart], [table])
