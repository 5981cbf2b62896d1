"""Sending the satisfaction surveys whose time has come (run by the sweep, every
TAWASUL_SWEEP_SECONDS).

The database says which surveys are due (bot/storage/surveys.py), so nothing is lost when
Redis is, and a survey that has to wait (the beneficiary is filling in a form, or talking to
staff) is simply looked at again by the next sweep, until it can go or it expires. Each one
is decided under the contact's lock (bot/contact_lock.py), the lock every turn takes: no
turn can start a journey between the look at the conversation and the survey's state being
saved, and the next turn reads that state. On WhatsApp past the 24-hour window the survey
goes as the profile's `survey_invitation` template; with none, it is recorded as not sent.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import datetime

from rq import Queue

from bot import whatsapp_window
from bot.contact_lock import ContactLocks
from bot.i18n import translator
from bot.models import AddressKind, OutboundMessage, Template, utcnow
from bot.storage.surveys import DUE_BATCH, DueSurvey, SurveyProspect
from handlers.survey import interruptible, invitation
from worker.context import WorkerContext
from worker.queues import enqueue_deliveries

log = logging.getLogger(__name__)

INVITATION_TEMPLATE = "survey_invitation"
WINDOW_KINDS = frozenset({AddressKind.WHATSAPP.value, AddressKind.WHATSAPP_USER.value})
# How long one sweep spends on surveys at most (the sweep job has JOB_TIMEOUT_SECONDS in all),
# and how long the place it stopped at is kept for the next one.
BUDGET_SECONDS = 15.0
CURSOR_SECONDS = 3600


async def send_due_surveys(
    context: WorkerContext,
    queue: Queue,
    now: datetime | None = None,
    budget_seconds: float = BUDGET_SECONDS,
    batch: int = DUE_BATCH,
) -> dict[int, str]:
    """Expire what is past its limit, then ask every due survey that can be asked; `now`
    is injectable (tests move time with it). Returns what happened to each due survey.

    Due surveys are walked in id order, a batch at a time, for at most `budget_seconds`;
    where the budget ends is kept in Redis and the next sweep goes on from there, so many
    surveys that keep waiting (forms left half-way) never hold back the others."""
    now = now or utcnow()
    store = context.store
    await store.surveys.expire(now)
    cursor_key = f"tawasul:surveys:cursor:{queue.name}"
    start = after = int(await context.redis.get(cursor_key) or 0)
    deadline = time.monotonic() + budget_seconds
    locks = ContactLocks(context.redis)
    outcomes: dict[int, str] = {}
    queued: list[int] = []
    wrapped = start == 0
    while True:
        due = await store.surveys.due(now, after, batch)
        if wrapped:  # the second lap ends where the first began
            due = [survey for survey in due if survey.id <= start] if start else due
        if not due:
            if wrapped:
                await context.redis.delete(cursor_key)  # all walked: start over next time
                break
            wrapped, after = True, 0
            continue
        after = due[-1].id
        await _ask_each(context, locks, due, now, outcomes, queued)
        if time.monotonic() > deadline:
            await context.redis.set(cursor_key, after, ex=CURSOR_SECONDS)
            break
    if queued:
        await asyncio.to_thread(enqueue_deliveries, queue, queued)
    return outcomes


async def _ask_each(
    context: WorkerContext,
    locks: ContactLocks,
    due: list[DueSurvey],
    now: datetime,
    outcomes: dict[int, str],
    queued: list[int],
) -> None:
    for survey in due:
        claim = f"tawasul:survey:{survey.id}:{secrets.token_hex(4)}"
        held = await locks.take(survey.contact_id, claim)
        if held is None:
            continue
        try:
            outcome, message_id = await _decide(context, survey.id, now)
        except Exception:
            log.exception("survey %s: not decided, the next sweep tries again", survey.id)
            outcome, message_id = "failed", None
        finally:
            await locks.give_up(held)
            await locks.give_back(held)  # no version: the next turn reads the new state
        outcomes[survey.id] = outcome
        if message_id is not None:
            queued.append(message_id)


async def _decide(context: WorkerContext, survey_id: int, now: datetime) -> tuple[str, int | None]:
    store = context.store
    prospect = await store.surveys.prospect(survey_id)
    if prospect is None:
        return "gone", None
    reason = _cannot_reach(prospect)
    if reason is not None:
        await store.surveys.mark_not_sent(survey_id, reason)
        return f"not sent: {reason}", None
    if not interruptible(prospect.state, prospect.handoff_open):
        return "waiting: the beneficiary is busy", None
    assert prospect.route is not None
    profile = context.profile
    t = translator(prospect.language or profile.default_language)
    closed = _window_closed(prospect, now)
    if closed and INVITATION_TEMPLATE not in profile.templates:
        await store.surveys.mark_not_sent(survey_id, "window_closed_no_template")
        return "not sent: window closed, no template", None
    message, state = invitation(
        profile,
        t,
        prospect.state,
        survey_id,
        prospect.reference,
        prospect.expires_at,
        by_template=closed,
    )
    if closed:
        name = profile.short_name.get(profile.templates[INVITATION_TEMPLATE].language)
        message = OutboundMessage(message.text, template=Template(INVITATION_TEMPLATE, {"1": name}))
    message_id = await store.surveys.mark_sent(survey_id, prospect.route, message, state, now)
    if message_id is None:
        return "gone", None
    return f"sent as message {message_id}", message_id


def _cannot_reach(prospect: SurveyProspect) -> str | None:
    if prospect.route is None:
        return "no_address"
    if prospect.stopped:
        return "stopped"
    if prospect.route.address_kind == AddressKind.WHATSAPP_GROUP.value:
        return "group"
    return None


def _window_closed(prospect: SurveyProspect, now: datetime) -> bool:
    route = prospect.route
    if route is None or route.address_kind not in WINDOW_KINDS:
        return False
    return not whatsapp_window.window_at(route.last_inbound_at, now).open
