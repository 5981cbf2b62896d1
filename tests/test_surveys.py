"""Satisfaction surveys (issue 15) on both backends, with the real Redis and a real RQ queue:
closing a case schedules one survey; the worker's sweep step sends it once its time has come
(time moved by the injectable clock, never by sleeping), not while the beneficiary is in the
middle of a form; the answer goes through the router like any message; a low rating opens
the quality officer's follow-up with the comment; WhatsApp past its 24-hour window gets the
profile's template, through the fake Twilio, or nothing and a reason when there is none."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from rq import Queue
from sqlalchemy import select, update

from bot.app.router import Router
from bot.app.runtime import Runtime, open_runtime
from bot.models import AddressKind, InboundMessage
from bot.settings import Settings
from bot.storage.casework import NotAllowed
from bot.storage.surveys import SurveySchedule, schedule_survey
from bot.tables import Complaint, Conversation, Handoff, Message, StaffTask, SupportRequest
from bot.tables_quality import Survey
from handlers.survey import BUTTON_PREFIX
from handlers.wiring import build_dispatcher
from tests.conftest import PROFILE, REDIS_URL
from tests.fakes.server import running
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.test_console_work_storage import beneficiary, filed_request
from worker import defaults
from worker.delivery import deliver
from worker.queues import QueueOutbox, make_queue
from worker.surveys import send_due_surveys

QUALITY = "quality@example.org"
WHATSAPP_FROM = "whatsapp:+14155238886"


@dataclass
class Desk:
    """A runtime (the worker's context) with a router and a queue of its own."""

    runtime: Runtime
    router: Router
    queue: Queue

    async def say(
        self, address: str, text: str, kind: AddressKind = AddressKind.WEBCHAT
    ) -> list[str]:
        channel = "twilio" if kind is AddressKind.WHATSAPP else "webchat"
        outcome = await self.router.handle(
            InboundMessage(channel, kind, address, uuid.uuid4().hex, text)
        )
        with self.runtime.store.db.sessions() as session:
            return [session.get(Message, i).body for i in outcome.reply_ids]  # type: ignore[union-attr]

    async def sweep(self, now: datetime) -> dict[int, str]:
        return await send_due_surveys(self.runtime, self.queue, now)

    def survey(self, case_kind: str, case_id: int) -> Survey:
        with self.runtime.store.db.sessions() as session:
            found = session.scalar(
                select(Survey).where(Survey.case_kind == case_kind, Survey.case_id == case_id)
            )
            assert found is not None
            return found


async def _desk(settings: Settings) -> Desk:
    runtime = await open_runtime(settings, redis_url=REDIS_URL)
    queue = make_queue(REDIS_URL, f"surveys-{uuid.uuid4().hex[:8]}")
    outbox = QueueOutbox(queue, runtime.redis)
    dispatcher = build_dispatcher(runtime.profile)
    router = Router(runtime.store, runtime.redis, outbox, dispatcher, runtime.profile)
    return Desk(runtime, router, queue)


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[Desk]:
    found = await _desk(settings)
    yield found
    await found.runtime.close()


async def file_complaint(desk: Desk, address: str) -> Complaint:
    await desk.say(address, "مرحبا")
    await desk.say(address, "٤")
    await desk.say(address, "١")  # quality of service
    await desk.say(address, "تأخر تسليم السلة الغذائية شهرين كاملين دون أي تواصل")
    filed = await desk.say(address, "تخطي")
    reference = re.search(r"C-\d+", filed[0])
    assert reference is not None
    with desk.runtime.store.db.sessions() as session:
        complaint = session.scalar(
            select(Complaint).where(Complaint.reference == reference.group())
        )
        assert complaint is not None
        return complaint


async def test_a_closed_complaint_is_surveyed_once_and_a_low_rating_is_followed_up(
    desk: Desk,
) -> None:
    profile = desk.runtime.profile
    schedule = SurveySchedule.from_profile(profile)
    address = f"visitor-{uuid.uuid4().hex[:8]}"
    complaint = await file_complaint(desk, address)
    store = desk.runtime.store
    await store.complaint_cases.close(
        complaint.reference, QUALITY, "نعتذر عن التأخير", None, None, None, schedule
    )
    with pytest.raises(NotAllowed):  # closed once: one survey
        await store.complaint_cases.close(
            complaint.reference, QUALITY, "مرة ثانية", None, None, None, schedule
        )
    survey = desk.survey("complaint", complaint.id)
    assert (survey.status, survey.reference, survey.channel, survey.closed_by) == (
        "scheduled",
        complaint.reference,
        "webchat",
        QUALITY,
    )
    assert survey.domain == profile.get_complaint_category(complaint.category).domain  # type: ignore[union-attr]
    closed_at = survey.closed_at
    assert survey.scheduled_for == closed_at + timedelta(minutes=60)
    assert survey.expires_at == closed_at + timedelta(hours=72)

    assert await desk.sweep(closed_at + timedelta(minutes=59)) == {}  # not yet
    outcomes = await desk.sweep(closed_at + timedelta(minutes=61))
    assert list(outcomes) == [survey.id] and outcomes[survey.id].startswith("sent")
    survey = desk.survey("complaint", complaint.id)
    assert survey.status == "sent" and survey.message_id is not None
    with store.db.sessions() as session:
        question = session.get(Message, survey.message_id)
        assert question is not None and question.status == "queued"
        assert complaint.reference in question.body
        assert profile.survey.question.ar in question.body
        assert [b[0] for b in question.payload["buttons"]] == [
            f"{BUTTON_PREFIX}{n}" for n in range(1, 6)
        ]
    # Its delivery is queued on the real Redis, once.
    delivery_job = defaults.delivery_job_id(desk.queue.name, survey.message_id)
    assert delivery_job in desk.queue.job_ids
    assert await desk.sweep(closed_at + timedelta(minutes=62)) == {}

    # The beneficiary answers «٢» (Arabic-Indic): the comment is asked, a follow-up opens.
    assert await desk.say(address, "٢") == [profile.survey.comment_prompt.ar]
    survey = desk.survey("complaint", complaint.id)
    assert (survey.status, survey.rating) == ("answered", 2)
    assert survey.follow_up_task_id is not None
    (thanks,) = await desk.say(address, "لم يتصل بي أحد رغم وعدكم")
    assert thanks.startswith(profile.survey.thanks.ar)
    survey = desk.survey("complaint", complaint.id)
    assert (survey.status, survey.comment) == ("commented", "لم يتصل بي أحد رغم وعدكم")
    with store.db.sessions() as session:
        task = session.get(StaffTask, survey.follow_up_task_id)
        assert task is not None and (task.kind, task.status) == ("survey_follow_up", "open")

    (follow_up,) = await store.survey_follow_ups.open_follow_ups()
    assert (follow_up.rating, follow_up.comment, follow_up.case_reference) == (
        2,
        "لم يتصل بي أحد رغم وعدكم",
        complaint.reference,
    )
    await store.survey_follow_ups.close(follow_up.task_id, QUALITY)
    assert await store.survey_follow_ups.open_follow_ups() == []
    (answer,) = await desk.say(address, "القائمة")  # the bot's as usual again
    assert "اختر الخدمة" in answer
    # The beneficiary's data erased: the rating stays for the reports, their words do not.
    await store.contact_cases.erase(survey.contact_id, "admin@example.org")
    survey = desk.survey("complaint", complaint.id)
    assert (survey.rating, survey.comment) == (2, None)


async def test_a_high_rating_thanks_and_a_busy_beneficiary_is_not_interrupted(
    desk: Desk,
) -> None:
    store = desk.runtime.store
    schedule = SurveySchedule.from_profile(desk.runtime.profile)
    address = f"visitor-{uuid.uuid4().hex[:8]}"
    await desk.say(address, "مرحبا")
    await desk.say(address, "٥")  # talk to staff
    with store.db.sessions() as session:
        handoff = session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None
    await store.casework.close_handoff(handoff.id, "relations@example.org", None, schedule)
    survey = desk.survey("handoff", handoff.id)
    assert (survey.channel, survey.domain, survey.reference) == (
        "webchat",
        handoff.domain,
        f"H-{handoff.id}",
    )
    await desk.say(address, "٢")  # the support-request form begins
    due = survey.scheduled_for + timedelta(minutes=1)
    assert (await desk.sweep(due))[survey.id].startswith("waiting")
    assert desk.survey("handoff", handoff.id).status == "scheduled"
    await desk.say(address, "إلغاء")  # the form is left
    assert (await desk.sweep(due + timedelta(minutes=1)))[survey.id].startswith("sent")
    (thanks,) = await desk.say(address, "ممتاز")
    assert thanks.startswith(desk.runtime.profile.survey.thanks.ar)
    survey = desk.survey("handoff", handoff.id)
    assert (survey.status, survey.rating, survey.follow_up_task_id) == ("answered", 5, None)


async def test_a_request_is_surveyed_when_closed_not_when_decided(desk: Desk) -> None:
    store = desk.runtime.store
    schedule = SurveySchedule.from_profile(desk.runtime.profile)
    contact_id, _address, _conversation = beneficiary(store, uuid.uuid4().hex[:8])
    reference = f"R-{uuid.uuid4().int % 10**9:09d}"
    filed_request(store, contact_id, reference)
    researcher = "research@example.org"
    for status in ("under_review", "accepted"):
        await store.casework.set_request_status(
            reference, status, researcher, None, date(2026, 12, 1), None, survey=schedule
        )
    with store.db.sessions() as session:
        assert session.scalar(select(Survey).where(Survey.reference == reference)) is None
    await store.casework.set_request_status(
        reference, "closed", researcher, None, None, None, survey=schedule
    )
    with store.db.sessions() as session:
        request = session.scalar(
            select(SupportRequest).where(SupportRequest.reference == reference)
        )
        assert request is not None
    survey = desk.survey("request", request.id)
    rent = desk.runtime.profile.get_request_type("rent")
    assert rent is not None
    assert (survey.status, survey.channel, survey.domain, survey.closed_by) == (
        "scheduled",
        "webchat",
        rent.domain,
        researcher,
    )


async def test_surveys_that_keep_waiting_do_not_hold_back_the_others(desk: Desk) -> None:
    """Each sweep goes on where the last one's time ran out (here: one survey a batch, no
    time at all), so the survey behind a waiting one is asked at the next sweep."""
    store = desk.runtime.store
    schedule = SurveySchedule.from_profile(desk.runtime.profile)
    now = datetime.now(UTC)
    ids = []
    for n, flow in enumerate(("support_request", None)):
        contact_id, _address, conversation_id = beneficiary(store, uuid.uuid4().hex[:8])
        with store.db.sessions.begin() as session:
            conversation = session.get(Conversation, conversation_id)
            assert conversation is not None
            conversation.state = {"flow": flow, "step": "national_id" if flow else None}
            schedule_survey(
                session,
                schedule,
                case_kind="handoff",
                case_id=2**30 + n + uuid.uuid4().int % 10**6,
                reference=None,
                contact_id=contact_id,
                channel="webchat",
                domain=None,
                closed_by="relations@example.org",
                closed_at=now - timedelta(hours=2),
            )
            session.flush()
            ids.append(session.scalars(select(Survey.id).order_by(Survey.id.desc())).first())
    busy, idle = ids

    def sweep() -> Awaitable[dict[int, str]]:
        return send_due_surveys(desk.runtime, desk.queue, now, budget_seconds=0, batch=1)

    first = await sweep()
    assert list(first) == [busy] and first[busy].startswith("waiting")
    second = await sweep()
    assert list(second) == [idle] and second[idle].startswith("sent")
    third = await sweep()  # past the end: from the start again
    assert list(third) == [busy]


async def test_what_is_no_rating_goes_back_to_the_question_the_survey_came_over(
    desk: Desk,
) -> None:
    """Filing the complaint ended with the updates question; the survey came over it, and a
    «نعم» is still that question's answer, while the survey stays unanswered."""
    store = desk.runtime.store
    schedule = SurveySchedule.from_profile(desk.runtime.profile)
    address = f"visitor-{uuid.uuid4().hex[:8]}"
    complaint = await file_complaint(desk, address)
    await store.complaint_cases.close(
        complaint.reference, QUALITY, "تم", None, None, None, schedule
    )
    survey = desk.survey("complaint", complaint.id)
    assert (await desk.sweep(survey.scheduled_for))[survey.id].startswith("sent")
    (answer,) = await desk.say(address, "نعم")
    assert answer.startswith("تم: اشتركت")
    assert desk.survey("complaint", complaint.id).status == "sent"
    form = await desk.say(address, "٢")  # the survey is left: the menu's second choice
    assert desk.survey("complaint", complaint.id).rating is None
    assert desk.runtime.profile.survey.comment_prompt.ar not in form


async def test_a_survey_that_waits_past_its_limit_expires(desk: Desk) -> None:
    store = desk.runtime.store
    schedule = SurveySchedule.from_profile(desk.runtime.profile)
    address = f"visitor-{uuid.uuid4().hex[:8]}"
    complaint = await file_complaint(desk, address)
    await store.complaint_cases.close(
        complaint.reference, QUALITY, "تم", None, None, None, schedule
    )
    await desk.say(address, "القائمة")
    await desk.say(address, "٢")  # mid-form, and never finished
    survey = desk.survey("complaint", complaint.id)
    assert (await desk.sweep(survey.scheduled_for))[survey.id].startswith("waiting")
    assert await desk.sweep(survey.expires_at) == {}
    assert desk.survey("complaint", complaint.id).status == "expired"


# -- WhatsApp past its 24-hour window ---------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with running(FakeTwilio()) as server:
        yield server


@pytest.fixture
async def whatsapp_desk(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, fake: FakeTwilio
) -> AsyncIterator[Callable[[Path], Awaitable[Desk]]]:
    """Desks with WhatsApp through the fake Twilio, each with the profile it is given."""
    for name, value in {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_API_BASE": fake.url,
    }.items():
        monkeypatch.setenv(name, value)
    made: list[Desk] = []

    async def make(profile: Path) -> Desk:
        made.append(await _desk(settings.model_copy(update={"profile": profile})))
        return made[-1]

    yield make
    for desk in made:
        await desk.runtime.close()


async def _closed_handoff_after_the_window(desk: Desk, phone: str) -> Survey:
    store = desk.runtime.store
    for text in ("مرحبا", "٥"):
        await desk.say(phone, text, AddressKind.WHATSAPP)
    with store.db.sessions.begin() as session:
        handoff = session.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None
        # The beneficiary last wrote two days ago.
        session.execute(
            update(Message)
            .where(Message.conversation_id == handoff.conversation_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=2))
        )
    schedule = SurveySchedule.from_profile(desk.runtime.profile)
    await store.casework.close_handoff(handoff.id, "relations@example.org", None, schedule)
    return desk.survey("handoff", handoff.id)


async def test_past_the_whatsapp_window_the_survey_goes_as_the_template(
    whatsapp_desk: Callable[[Path], Awaitable[Desk]], fake: FakeTwilio
) -> None:
    desk = await whatsapp_desk(PROFILE)
    phone = "+9665" + uuid.uuid4().int.__str__()[:8]
    survey = await _closed_handoff_after_the_window(desk, phone)
    outcomes = await desk.sweep(survey.scheduled_for)
    assert outcomes[survey.id].startswith("sent")
    survey = desk.survey("handoff", survey.case_id)
    assert survey.message_id is not None
    assert await deliver(desk.runtime, survey.message_id, last_attempt=True) == "sent"
    (sent,) = [s for s in fake.sent if s.form.get("To") == "whatsapp:" + phone]
    template = desk.runtime.profile.templates["survey_invitation"]
    assert sent.form["ContentSid"] == template.twilio_content_sid
    assert "Body" not in sent.form
    # The beneficiary presses the template's own button: now the question itself comes,
    # and the rating after it is understood.
    profile = desk.runtime.profile
    (asked,) = await desk.say(phone, "قيّم الخدمة", AddressKind.WHATSAPP)
    assert profile.survey.question.ar in asked and f"H-{survey.case_id}" in asked
    (prompt,) = await desk.say(phone, "١", AddressKind.WHATSAPP)
    assert prompt == profile.survey.comment_prompt.ar
    assert desk.survey("handoff", survey.case_id).rating == 1


async def test_past_the_window_without_a_template_it_is_recorded_as_not_sent(
    whatsapp_desk: Callable[[Path], Awaitable[Desk]], fake: FakeTwilio, tmp_path: Path
) -> None:
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    del data["templates"]["survey_invitation"]
    bare = tmp_path / "profile.yaml"
    bare.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    desk = await whatsapp_desk(bare)
    phone = "+9665" + uuid.uuid4().int.__str__()[:8]
    survey = await _closed_handoff_after_the_window(desk, phone)
    outcomes = await desk.sweep(survey.scheduled_for)
    assert outcomes[survey.id].startswith("not sent")
    survey = desk.survey("handoff", survey.case_id)
    assert (survey.status, survey.not_sent_reason, survey.message_id) == (
        "not_sent",
        "window_closed_no_template",
        None,
    )
    assert not [s for s in fake.sent if s.form.get("To") == "whatsapp:" + phone]
