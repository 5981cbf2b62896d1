"""One write path per turn, on both backends: everything a turn decides is saved in the turn's
one transaction, so a handler that fails after filing, or a process that dies before the turn
is saved, leaves nothing filed, and the provider's retry files once."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from bot.app.router import Outcome, Router
from bot.effects import (
    CreateTask,
    Effect,
    FileComplaint,
    FileRequest,
    RecordConsent,
    SendToAddress,
)
from bot.i18n import translator
from bot.models import AddressKind, InboundMessage
from bot.profile import Profile
from bot.storage import Store
from bot.storage.references import (
    COMPLAINT_PREFIX,
    REQUEST_PREFIX,
    TASK_PREFIX,
    check_digit,
    ever_given,
    new_reference,
    typed_reference,
)
from bot.tables import (
    AuditEntry,
    Complaint,
    ConsentRecord,
    ContactAddress,
    Handoff,
    Message,
    StaffTask,
    SupportRequest,
)
from handlers.base import Dispatcher, Handler, Turn
from handlers.complaint import ComplaintFlow
from handlers.handoff import REQUESTED, hand_off
from handlers.menu import MenuHandler
from handlers.wiring import build_dispatcher
from tests.conftest import REDIS_URL
from tests.journeys import national_id
from worker.queues import QueueOutbox, drain_outbox, make_queue

AR = translator("ar")
APOLOGY = "عذرًا، حدث خطأ من جهتنا. رسالتك محفوظة"
PHONE = "+966512345678"


class HandlerFailed(RuntimeError):
    pass


def message(text: str, address: str, provider_id: str | None = None) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        address_kind=AddressKind.WEBCHAT,
        address=address,
        provider_id=provider_id or uuid.uuid4().hex,
        text=text,
    )


def router_with(store: Store, redis: Redis, profile: Profile, dispatcher: Dispatcher) -> Router:
    outbox = QueueOutbox(make_queue(REDIS_URL, f"write-path-{uuid.uuid4().hex[:8]}"), redis)
    return Router(store, redis, outbox, dispatcher, profile, ("twilio", AddressKind.SMS))


def count(store: Store, model: Any) -> int:
    with store.db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def texts(store: Store, outcome: Outcome) -> list[str]:
    deliveries = [await store.deliveries.delivery(i) for i in outcome.reply_ids]
    return [d.message.text for d in deliveries if d is not None]


async def state_of(store: Store, address: str) -> dict[str, Any] | None:
    record = await store.inbound.record_inbound(message("look", address))
    assert record is not None
    return await store.inbound.load_state(record.conversation_id)


class Remembering(Handler):
    """Leaves a state for the failing turn after it to keep."""

    async def handle(self, turn: Turn) -> None:
        turn.state.drafts["form"] = {"answers": {"name": "kept"}}
        turn.say("noted")


class FailsAfterFiling(Handler):
    """A journey that decides a record (with its reply), then fails before it returns."""

    def __init__(self, decide: Callable[[Turn], Any]) -> None:
        self.decide = decide

    async def handle(self, turn: Turn) -> None:
        if turn.message.text == "أولًا":
            await Remembering().handle(turn)
            return
        await self.decide(turn)
        turn.state.flow = "half-done"
        raise HandlerFailed("after filing")


def _effect(make: Callable[[Turn], Effect]) -> Callable[[Turn], Any]:
    async def decide(turn: Turn) -> None:
        turn.effect(make(turn))
        turn.say("filed")

    return decide


DECISIONS: dict[str, tuple[Callable[[Turn], Any], Any]] = {
    "complaint": (
        _effect(
            lambda turn: FileComplaint(
                new_reference(COMPLAINT_PREFIX),
                "service_quality",
                False,
                "the office was closed at noon",
                [],
                turn.now + timedelta(days=5),
            )
        ),
        Complaint,
    ),
    "support request": (
        _effect(
            lambda turn: FileRequest(
                new_reference(REQUEST_PREFIX),
                "monthly",
                national_id(7001),
                {"full_name": "أحمد"},
                "v1",
                turn.now,
                turn.now + timedelta(days=14),
            )
        ),
        SupportRequest,
    ),
    "hand-off": (lambda turn: hand_off(turn, REQUESTED), Handoff),
    "staff task": (
        _effect(lambda turn: CreateTask(new_reference(TASK_PREFIX), "data_deletion", {})),
        StaffTask,
    ),
    "message to another address": (
        _effect(lambda turn: SendToAddress("twilio", AddressKind.SMS, PHONE, "code 123456")),
        ContactAddress,  # the phone would have got a contact of its own
    ),
}


@pytest.mark.parametrize("kind", list(DECISIONS))
async def test_a_handler_failing_right_after_filing_leaves_nothing_filed(
    kind: str, store: Store, redis: Redis, profile: Profile
) -> None:
    decide, model = DECISIONS[kind]
    dispatcher = Dispatcher([FailsAfterFiling(decide)], {}, MenuHandler({}))
    router = router_with(store, redis, profile, dispatcher)
    address = uuid.uuid4().hex
    await router.handle(message("أولًا", address))
    rows_before = count(store, model)

    outcome = await router.handle(message("قدّمها", address))

    assert count(store, model) == rows_before  # nothing filed, nothing queued elsewhere
    (reply,) = await texts(store, outcome)
    assert reply.startswith(APOLOGY)
    state = await state_of(store, address)
    assert state is not None and state["flow"] is None and state["handoff"] is None
    assert state["drafts"] == {"form": {"answers": {"name": "kept"}}}
    with store.db.sessions() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions == []


class CrashesOnceAfterFiling(ComplaintFlow):
    """The real complaint journey, whose process dies once right after it filed (before the
    turn is saved): a cancelled task is not an error the router answers, it goes up."""

    crashes = 1

    async def _file(self, turn: Turn) -> None:
        await super()._file(turn)
        if self.crashes:
            self.crashes -= 1
            raise asyncio.CancelledError


async def test_a_provider_retry_after_a_crash_between_filing_and_saving_files_once(
    store: Store, redis: Redis, profile: Profile
) -> None:
    dispatcher = build_dispatcher(profile)
    dispatcher.flows["complaint"] = CrashesOnceAfterFiling()
    router = router_with(store, redis, profile, dispatcher)
    address = uuid.uuid4().hex
    for text in ("مرحبا", "٤", "٣", "الموظف رفع صوته علي أمام الحاضرين"):
        await router.handle(message(text, address))
    skip = message("١", address)

    with pytest.raises(asyncio.CancelledError):
        await router.handle(skip)
    assert count(store, Complaint) == 0
    state = await state_of(store, address)
    assert state is not None and (state["flow"], state["step"]) == ("complaint", "attachments")

    retried = await router.handle(skip)  # the provider sends the same message again

    assert not retried.duplicate
    filed = (await texts(store, retried))[0]
    with store.db.sessions() as session:
        (reference,) = session.scalars(select(Complaint.reference)).all()
        copies = session.scalar(
            select(func.count(Message.id)).where(Message.provider_id == skip.provider_id)
        )
    assert reference in filed and copies == 1
    state = await state_of(store, address)
    assert state is not None and state["flow"] != "complaint"


class FilesTwiceTheSameReference(Handler):
    """Files a complaint under a fixed reference and records a consent with it: the second
    time the reference clashes with the stored one."""

    async def handle(self, turn: Turn) -> None:
        turn.effect(RecordConsent("updates", True, "question", "v1"))
        turn.effect(
            FileComplaint("C-000000000", "other", False, "twice", [], turn.now + timedelta(days=1))
        )
        turn.state.flow = "filed"
        turn.say("filed C-000000000")


async def test_a_record_clashing_on_save_saves_nothing_of_the_turn_and_apologises(
    store: Store, redis: Redis, profile: Profile
) -> None:
    dispatcher = Dispatcher([FilesTwiceTheSameReference()], {}, MenuHandler({}))
    router = router_with(store, redis, profile, dispatcher)
    await router.handle(message("مرة", uuid.uuid4().hex))
    address = uuid.uuid4().hex

    outcome = await router.handle(message("مرتين", address))

    (reply,) = await texts(store, outcome)
    assert reply.startswith(APOLOGY)
    assert count(store, Complaint) == 1 and count(store, ConsentRecord) == 1
    state = await state_of(store, address)
    assert state is not None and state["flow"] is None


async def test_a_hand_off_is_opened_in_the_turn_and_named_in_its_saved_state(
    store: Store, redis: Redis, profile: Profile
) -> None:
    router = router_with(store, redis, profile, build_dispatcher(profile))
    address = uuid.uuid4().hex
    await router.handle(message("مرحبا", address))
    await router.handle(message("٥", address))  # talk to staff
    with store.db.sessions() as session:
        (handoff,) = session.scalars(select(Handoff)).all()
    state = await state_of(store, address)
    assert state is not None and state["handoff"] == handoff.id
    quiet = await router.handle(message("هل من أحد؟", address))
    assert quiet.reply_ids == ()  # staff hold the conversation


async def test_link_phones_code_is_queued_with_the_turn_and_the_phone_then_joins(
    store: Store, redis: Redis, profile: Profile
) -> None:
    queue_name = f"write-path-{uuid.uuid4().hex[:8]}"
    queue = make_queue(REDIS_URL, queue_name)
    router = Router(
        store,
        redis,
        QueueOutbox(queue, redis),
        build_dispatcher(profile),
        profile,
        ("twilio", AddressKind.SMS),
    )
    address = uuid.uuid4().hex
    await router.handle(message("hello", address))
    await router.handle(message("link phone", address))
    drain_outbox(queue)

    sent = await router.handle(message("0512345678", address))

    reply_id, code_id = sent.reply_ids  # the reply, then the code for the phone
    assert drain_outbox(queue) == [reply_id, code_id]  # both queued, after one save
    code = await store.deliveries.delivery(code_id)
    assert code is not None
    assert (code.channel, code.address_kind, code.address) == ("twilio", AddressKind.SMS, PHONE)
    with store.db.sessions() as session:
        times = session.scalars(
            select(Message.created_at).where(Message.id.in_([reply_id, code_id]))
        ).all()
        assert len(set(times)) == 1  # saved by one step, at the turn's time
        phone_owner = session.scalar(
            select(ContactAddress.contact_id).where(ContactAddress.kind == "sms")
        )
    found = re.search(r"\d{6}", code.message.text)
    assert found is not None

    await router.handle(message(found.group(0), address))

    record = await store.inbound.record_inbound(message("again", address))
    assert record is not None
    with store.db.sessions() as session:
        owners = session.scalars(
            select(ContactAddress.contact_id).where(ContactAddress.kind == "sms")
        ).all()
        assert owners == [record.contact_id] and record.contact_id != phone_owner
        # The code message went with the phone's history into this conversation.
        moved = session.get(Message, code_id)
        assert moved is not None and moved.conversation_id == record.conversation_id


def test_references_are_random_readable_and_check_themselves() -> None:
    reference = new_reference(COMPLAINT_PREFIX)
    assert re.fullmatch(r"C-\d{9}", reference)
    digits = reference[2:]
    assert check_digit(digits[:-1]) == digits[-1]
    for position in range(8):  # one digit misheard over the phone is caught
        for wrong in "0123456789":
            if wrong != digits[position]:
                changed = digits[:position] + wrong + digits[position + 1 : -1]
                assert check_digit(changed) != digits[-1]
    typed = "ر " + " ".join(digits).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert typed_reference(REQUEST_PREFIX, typed) == f"R-{digits}"
    assert typed_reference(REQUEST_PREFIX, "r-100001") == "R-100001"  # an older reference
    assert typed_reference(REQUEST_PREFIX, "menu") is None
    assert typed_reference(REQUEST_PREFIX, "٢") == "R-2"  # a menu number at the prompt:
    assert not ever_given("R-2")  # no reference was ever so short, so nothing is looked up
    assert not ever_given("R-10000")
    assert ever_given("R-100001") and ever_given(f"R-{digits}")
