"""The SLA watch and staff notifications on both backends, with the real Redis, a real SMTP
server (aiosmtpd) and the fake Telegram Bot API; time is the watch's injected `now`.

A late request reminds its researcher before its deadline and, after it, tells the domain's
manager and the beneficiary (in Arabic, with the new date in Hijri and Gregorian, once); two
workers never double a reminder nor a digest; three notifications within a minute arrive as
one email; a request waiting on the beneficiary is paused and its deadline moves."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import select, update

from bot.crypto import Cipher
from bot.db import Database
from bot.i18n import translator
from bot.media import MediaStore
from bot.models import OutboundMessage
from bot.profile import Profile
from bot.settings import Settings
from bot.storage import Store
from bot.storage.casework import Outgoing
from bot.tables import (
    Complaint,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    RequestStatusEvent,
    StaffTask,
    SupportRequest,
)
from bot.tables_sla import SlaAlert, StaffNotification
from bot.users import add_user, set_language
from bot.work_calendar import WorkCalendar, request_decision_due
from channels.base import Channel
from channels.context import ChannelContext
from channels.telegram.channel import TelegramChannel
from channels.telegram.settings import TelegramSettings
from tests.conftest import REDIS_URL, SECRET_KEY
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.telegram import FakeBotAPI
from worker import defaults
from worker.queues import make_queue
from worker.sla import LATE_NOTICE, watch
from worker.staff_notify import send_digests

# Sunday 6 December 2026, 10:00 in Riyadh.
FILED = datetime(2026, 12, 6, 7, 0, tzinfo=UTC)
RESEARCHER, MANAGER = "research@example.org", "director@example.org"
RELATIONS = "relations@example.org"


@dataclass
class Context:
    """What a worker job gets from its process (worker/context.py), for one test."""

    store: Store
    redis: Redis
    profile: Profile
    settings: Settings
    channels: Mapping[str, Channel] = field(default_factory=dict)

    async def close(self) -> None:
        pass


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSmtpServer]:
    server = FakeSmtpServer().start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(server.port))
    monkeypatch.setenv("SMTP_FROM", "Tawasul <tawasul@example.org>")
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    yield server
    server.stop()


@pytest.fixture
async def context(
    store: Store, redis: Redis, profile: Profile, settings: Settings
) -> AsyncIterator[Context]:
    yield Context(store, redis, profile, settings)


def queue_for_test() -> Queue:
    return make_queue(REDIS_URL, f"sla-{uuid.uuid4().hex[:8]}")


def beneficiary(store: Store, tag: str, kind: str = "webchat", wrote: datetime = FILED) -> int:
    """A contact who wrote once on `kind` at `wrote`; returns the contact's id."""
    channel = "whatsapp" if kind == "whatsapp" else "webchat"
    with store.db.sessions.begin() as session:
        contact = Contact(language="ar", display_name=f"أحمد {tag}", national_id=None)
        session.add(contact)
        session.flush()
        address = ContactAddress(
            contact_id=contact.id, kind=kind, address=f"+9665{tag}", address_hash=f"h-{tag}"
        )
        session.add(address)
        session.flush()
        conversation = Conversation(contact_id=contact.id, last_address_id=address.id)
        session.add(conversation)
        session.flush()
        session.add(
            Message(conversation_id=conversation.id, address_id=address.id, direction="in",
                    channel=channel, provider_id=f"p-{tag}", body="مرحبا", status="handled",
                    created_at=wrote)
        )  # fmt: skip
        return contact.id


def filed_request(store: Store, profile: Profile, contact_id: int, channel: str = "webchat") -> str:
    reference = f"R-{uuid.uuid4().int % 10**9:09d}"
    with store.db.sessions.begin() as session:
        request = SupportRequest(
            reference=reference, contact_id=contact_id, request_type="rent", status="submitted",
            national_id_hash=f"nid-{reference}", answers={"full_name": "أحمد"}, channel=channel,
            attestation_version="v1", attested_at=FILED, submitted_at=FILED,
            decision_due=request_decision_due(profile, FILED),
        )  # fmt: skip
        session.add(request)
        session.flush()
        session.add(
            RequestStatusEvent(request_id=request.id, status="submitted", at=FILED, actor="x")
        )
    return reference


def alerts(store: Store) -> list[tuple[str, str, str | None]]:
    with store.db.sessions() as session:
        rows = session.scalars(select(SlaAlert).order_by(SlaAlert.id))
        return [(a.kind, a.deadline, a.sent_to) for a in rows]


async def test_a_late_request_reminds_its_researcher_and_tells_the_beneficiary(
    context: Context, store: Store, profile: Profile, smtp: FakeSmtpServer
) -> None:
    queue = queue_for_test()
    contact_id = beneficiary(store, "100")
    reference = filed_request(store, profile, contact_id)
    due = request_decision_due(profile, FILED)
    assert due.astimezone(profile.tz) == datetime(2026, 12, 24, 16, 0, tzinfo=profile.tz)

    # Three days before: nothing yet. 47 hours before: the researcher is reminded, once.
    assert (await watch(context, queue, due - timedelta(days=3)))["remind"] == 0
    before = due - timedelta(hours=47)
    assert (await watch(context, queue, before))["remind"] == 1
    assert (await watch(context, queue, before + timedelta(hours=1)))["remind"] == 0
    assert alerts(store) == [("remind", "decision", RESEARCHER)]
    # The digest waits its minute, then goes as one email with the console link.
    assert await send_digests(context, before + timedelta(seconds=30)) == 0
    assert await send_digests(context, before + timedelta(seconds=61)) == 1
    (mail,) = smtp.wait_for(RESEARCHER)
    assert reference in mail.text and "تذكير" in mail.text
    assert f"{context.settings.public_url}/console/requests/{reference}" in mail.text

    # Past the deadline: the manager is told, and the beneficiary, in Arabic, once.
    after = due + timedelta(hours=2)
    counts = await watch(context, queue, after)
    assert (counts["escalate"], counts["late_notice"]) == (1, 1)
    again = await watch(context, queue, after + timedelta(hours=5))
    assert (again["escalate"], again["late_notice"]) == (0, 0)
    assert [a[0] for a in alerts(store)] == ["remind", "escalate", "late_notice"]
    await send_digests(context, after + timedelta(seconds=61))
    (overdue,) = smtp.wait_for(MANAGER)
    assert reference in overdue.text and "تجاوز المهلة" in overdue.text

    expected = WorkCalendar(profile).add_days(after, profile.sla.late_notice_extension_days)
    day = translator("ar").format_date(expected.astimezone(profile.tz).date())
    assert " هـ" in day or "هـ" in day  # Hijri beside Gregorian
    with store.db.sessions() as session:
        (told,) = session.scalars(
            select(Message).where(Message.direction == "out", Message.status == "queued")
        ).all()
        assert told.body == translator("ar").gettext(LATE_NOTICE).format(
            reference=reference, date=day
        )
        assert told.channel == "webchat" and told.payload["template"] is None
    # ...and its delivery is queued for the worker.
    assert Job.exists(defaults.delivery_job_id(queue.name, told.id), connection=queue.connection)


async def test_outside_the_whatsapp_window_the_late_notice_is_a_template(
    context: Context, store: Store, profile: Profile
) -> None:
    contact_id = beneficiary(store, "200", kind="whatsapp", wrote=FILED)
    filed_request(store, profile, contact_id, channel="whatsapp")
    due = request_decision_due(profile, FILED)
    await watch(context, queue_for_test(), due + timedelta(hours=1))
    with store.db.sessions() as session:
        (told,) = session.scalars(select(Message).where(Message.direction == "out")).all()
        assert told.channel == "whatsapp"
        assert told.payload["template"]["name"] == "reply_waiting"


async def test_two_workers_never_double_a_reminder_nor_a_digest(
    store: Store, database_url: str, redis: Redis, profile: Profile,
    settings: Settings, smtp: FakeSmtpServer,
) -> None:  # fmt: skip
    second_db = Database(database_url)
    try:
        first = Context(store, redis, profile, settings)
        second = Context(Store(second_db, store.cipher), redis, profile, settings)
        queue = queue_for_test()
        contact_id = beneficiary(store, "300")
        filed_request(store, profile, contact_id)
        now = request_decision_due(profile, FILED) - timedelta(hours=40)
        for _ in range(3):
            counts = await asyncio.gather(watch(first, queue, now), watch(second, queue, now))
            assert sum(c["remind"] for c in counts) <= 1
        assert alerts(store) == [("remind", "decision", RESEARCHER)]
        later = now + timedelta(minutes=2)
        sent = await asyncio.gather(send_digests(first, later), send_digests(second, later))
        assert sorted(sent) == [0, 1]
        smtp.wait_for(RESEARCHER)
        await asyncio.gather(send_digests(first, later), send_digests(second, later))
        assert len(smtp.to(RESEARCHER)) == 1
    finally:
        second_db.close()


def open_work(store: Store, contact_id: int, at: datetime) -> None:
    """A hand-off, a low-rating follow-up and an urgent complaint, seconds apart."""
    with store.db.sessions.begin() as session:
        conversation_id = session.scalar(
            select(Conversation.id).where(Conversation.contact_id == contact_id)
        )
        session.add(
            Handoff(contact_id=contact_id, conversation_id=conversation_id,
                    domain="beneficiary_relations", officer_email=RELATIONS, reason="requested",
                    status="open", opened_at=at)
        )  # fmt: skip
        session.add(
            StaffTask(reference="T-000000123", kind="survey_follow_up", contact_id=contact_id,
                      status="open", details={"rating": 2}, created_at=at + timedelta(seconds=10))
        )  # fmt: skip
    with store.db.sessions.begin() as session:
        session.add(
            Complaint(reference="C-000000456", contact_id=contact_id,
                      category="privacy_violation", urgent=True, description="نُشرت بياناتي",
                      status="open", channel="webchat", created_at=at + timedelta(seconds=20),
                      respond_by=at + timedelta(days=3))
        )  # fmt: skip


async def test_three_notifications_within_a_minute_arrive_as_one_email(
    context: Context, store: Store, smtp: FakeSmtpServer
) -> None:
    contact_id = beneficiary(store, "400")
    start = datetime.now(UTC)
    open_work(store, contact_id, start)
    queue = queue_for_test()
    assert (await watch(context, queue, start + timedelta(seconds=25)))["new_work"] == 3
    assert (await watch(context, queue, start + timedelta(seconds=26)))["new_work"] == 0
    assert await send_digests(context, start + timedelta(seconds=40)) == 0
    assert await send_digests(context, start + timedelta(seconds=61)) == 3
    (mail,) = smtp.wait_for(RELATIONS)
    assert ": 3 أمور جديدة" in mail.header("Subject")  # one email: "3 new items for you"
    public = context.settings.public_url
    for part in ("C-000000456", "T-000000123", f"{public}/console/complaints/C-000000456",
                 f"{public}/console/conversations/"):  # fmt: skip
        assert part in mail.text
    assert await send_digests(context, start + timedelta(minutes=5)) == 0
    assert len(smtp.to(RELATIONS)) == 1


async def test_a_staff_member_who_chose_english_is_notified_in_english(
    context: Context, store: Store, smtp: FakeSmtpServer
) -> None:
    member_id = await add_user(store, RELATIONS, "Haifa", "officer", "correct horse battery")
    await set_language(store, member_id, "en")
    contact_id = beneficiary(store, "410")
    start = datetime.now(UTC)
    open_work(store, contact_id, start)
    assert (await watch(context, queue_for_test(), start + timedelta(seconds=25)))["new_work"] == 3
    assert await send_digests(context, start + timedelta(seconds=61)) == 3
    (mail,) = smtp.wait_for(RELATIONS)
    assert ": 3 new items for you" in mail.header("Subject")
    assert "Items waiting for you in the console:" in mail.text
    assert "Urgent complaint C-000000456" in mail.text
    assert "follow-up T-000000123" in mail.text
    assert "أمور جديدة" not in mail.header("Subject")


async def test_the_staff_telegram_chat_gets_the_digest(
    store: Store, redis: Redis, profile: Profile, settings: Settings, tmp_path: Path
) -> None:
    fake = FakeBotAPI("42:telegram-test-token").start()
    chat = "-1001234567890"
    try:
        with_chat = profile.model_copy(
            update={"notifications": profile.notifications.model_copy(
                update={"telegram_chat_id": chat, "email": False})}
        )  # fmt: skip
        channel = TelegramChannel(
            ChannelContext(settings, redis, REDIS_URL, Cipher(SECRET_KEY), with_chat,
                           MediaStore(tmp_path / "media")),
            TelegramSettings(bot_token=fake.token, secret_token="s", api_base=fake.url + "/bot"),
        )  # fmt: skip
        await channel.start()
        context = Context(store, redis, with_chat, settings, {"telegram": channel})
        contact_id = beneficiary(store, "500")
        start = datetime.now(UTC)
        open_work(store, contact_id, start)
        await watch(context, queue_for_test(), start + timedelta(seconds=30))
        assert await send_digests(context, start + timedelta(seconds=90)) == 3
        (call,) = fake.wait_calls("sendMessage", chat_id=chat)
        assert "C-000000456" in call["text"] and "/console/complaints/" in call["text"]
        await channel.close()
    finally:
        fake.stop()


async def test_waiting_on_the_beneficiary_pauses_the_clock(
    context: Context, store: Store, profile: Profile
) -> None:
    contact_id = beneficiary(store, "600")
    reference = filed_request(store, profile, contact_id)
    due = request_decision_due(profile, FILED)
    calendar = WorkCalendar(profile)
    with store.db.sessions() as session:
        conversation = session.scalar(
            select(Conversation).where(Conversation.contact_id == contact_id)
        )
        assert conversation is not None
        notice = Outgoing(conversation.id, conversation.last_address_id or 0, "webchat",
                          OutboundMessage("نحتاج إلى صورة عقد الإيجار"))  # fmt: skip
    await store.casework.set_request_status(reference, "under_review", "r@x.org", None, None, None)
    await store.casework.set_request_status(
        reference, "needs_info", RESEARCHER, "صورة العقد", None, notice, calendar
    )
    # While it waits, nothing is reminded, whatever the time.
    counts = await watch(context, queue_for_test(), due + timedelta(days=3))
    assert counts == {"remind": 0, "escalate": 0, "late_notice": 0, "new_work": 0}
    # It waited a week (the record moved back in time), five working days.
    paused = datetime.now(UTC) - timedelta(days=7)
    with store.db.sessions.begin() as session:
        session.execute(
            update(RequestStatusEvent)
            .where(RequestStatusEvent.status == "needs_info")
            .values(at=paused)
        )
    await store.casework.set_request_status(
        reference, "under_review", RESEARCHER, None, None, None, calendar
    )
    with store.db.sessions() as session:
        moved = session.scalar(
            select(SupportRequest.decision_due).where(SupportRequest.reference == reference)
        )
    assert moved is not None
    resumed = datetime.now(UTC)
    expected = calendar.add(due, calendar.between(paused, resumed))
    assert abs(moved - expected) < timedelta(seconds=5)
    assert moved - due >= timedelta(days=5)  # 40 working hours: five working days on


async def test_nothing_is_lost_when_a_send_fails(
    context: Context, store: Store, monkeypatch: pytest.MonkeyPatch, smtp: FakeSmtpServer
) -> None:
    contact_id = beneficiary(store, "700")
    start = datetime.now(UTC)
    open_work(store, contact_id, start)
    await watch(context, queue_for_test(), start + timedelta(seconds=30))
    monkeypatch.setenv("SMTP_PORT", "1")  # nobody listens there
    assert await send_digests(context, start + timedelta(seconds=61)) == 0
    with store.db.sessions() as session:
        rows = session.scalars(select(StaffNotification)).all()
        assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
        assert all(r.error for r in rows)
    monkeypatch.setenv("SMTP_PORT", str(smtp.port))
    assert await send_digests(context, start + timedelta(seconds=62)) == 3
    assert len(smtp.wait_for(RELATIONS)) == 1
