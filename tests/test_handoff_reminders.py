"""The reminder of an unanswered hand-off, on both backends: the router schedules it in RQ's
scheduled-job registry once the turn that opened the hand-off is saved, and the storage step
the job runs queues the message only while nobody has answered (once, whatever happens)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update

from bot.app.router import Router
from bot.models import AddressKind, InboundMessage
from bot.profile import Profile
from bot.storage import Store
from bot.tables import Handoff, Message
from handlers.handoff import answer_due
from handlers.wiring import build_dispatcher
from tests.conftest import REDIS_URL
from worker.handoff import HandoffReminders
from worker.queues import QueueOutbox, make_queue


def message(text: str, address: str) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        address_kind=AddressKind.WEBCHAT,
        address=address,
        provider_id=uuid.uuid4().hex,
        text=text,
    )


def last_handoff(store: Store) -> Handoff:
    with store.db.sessions() as session:
        handoff = session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None
        return handoff


async def test_the_reminder_is_scheduled_and_sent_once_while_nobody_answers(
    store: Store, redis: Redis, profile: Profile
) -> None:
    queue = make_queue(REDIS_URL, f"reminders-{uuid.uuid4().hex[:8]}")
    router = Router(
        store,
        redis,
        QueueOutbox(queue, redis),
        build_dispatcher(profile),
        profile,
        None,
        HandoffReminders(queue),
    )
    address = f"visitor-{uuid.uuid4().hex[:6]}"
    await router.handle(message("مرحبا", address))
    await router.handle(message("5", address))
    handoff = last_handoff(store)

    registry = ScheduledJobRegistry(queue=queue)
    (job_id,) = registry.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job is not None
    conversation_id, opened_at, text = job.args
    assert conversation_id == handoff.conversation_id
    assert datetime.fromisoformat(opened_at) == handoff.opened_at
    assert text.startswith("نعتذر عن الانتظار")
    due = answer_due(profile, handoff.opened_at)
    assert abs(registry.get_scheduled_time(job_id).timestamp() - due.timestamp()) < 1
    assert due - handoff.opened_at >= timedelta(hours=profile.sla.handoff_response_hours)

    reminded = await store.handoffs.remind_unanswered(
        handoff.conversation_id, handoff.opened_at, text
    )
    assert reminded is not None
    with store.db.sessions() as session:
        row = session.get(Message, reminded)
        assert row is not None
        assert (row.direction, row.channel, row.status, row.body) == (
            "out",
            "webchat",
            "queued",
            text,
        )
    # Run again (a retry, a second worker): the reminder itself counts as an answer.
    assert (
        await store.handoffs.remind_unanswered(handoff.conversation_id, handoff.opened_at, text)
        is None
    )


async def test_no_reminder_after_staff_closed_it_or_the_beneficiary_came_back(
    store: Store, redis: Redis, profile: Profile
) -> None:
    queue = make_queue(REDIS_URL, f"reminders-{uuid.uuid4().hex[:8]}")
    router = Router(store, redis, QueueOutbox(queue, redis), build_dispatcher(profile), profile)
    came_back = f"visitor-{uuid.uuid4().hex[:6]}"
    await router.handle(message("مرحبا", came_back))
    await router.handle(message("5", came_back))
    handoff = last_handoff(store)
    await router.handle(message("القائمة", came_back))
    assert (
        await store.handoffs.remind_unanswered(handoff.conversation_id, handoff.opened_at, "x")
        is None
    )

    closed = f"visitor-{uuid.uuid4().hex[:6]}"
    await router.handle(message("مرحبا", closed))
    await router.handle(message("5", closed))
    handoff = last_handoff(store)
    with store.db.sessions.begin() as session:
        session.execute(update(Handoff).where(Handoff.id == handoff.id).values(status="closed"))
    assert (
        await store.handoffs.remind_unanswered(handoff.conversation_id, handoff.opened_at, "x")
        is None
    )
    # A hand-off opened at another moment is not this reminder's.
    await router.handle(message("5", closed))
    handoff = last_handoff(store)
    other_moment = datetime.now(UTC) - timedelta(hours=1)
    assert (
        await store.handoffs.remind_unanswered(handoff.conversation_id, other_moment, "x") is None
    )
    assert (
        await store.handoffs.remind_unanswered(handoff.conversation_id, handoff.opened_at, "x")
        is not None
    )
