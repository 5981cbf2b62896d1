"""Storage on SQLite and PostgreSQL for issue 14's exactly-once delivery: a send is claimed
once, a send in doubt is `unknown` and settled by the report that carries our id, a late
report never undoes a later state, and a message sent in parts shows its least advanced."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from bot.models import (
    AddressKind,
    DeliveryStatus,
    InboundMessage,
    MessageRef,
    OutboundMessage,
    StatusUpdate,
)
from bot.storage import Store
from bot.storage.outbound_batch import OutboundBatches, Outcome
from bot.tables import Message
from bot.tables_outbound import MessagePart


async def queued_reply(store: Store, channel: str = "twilio") -> int:
    """A reply to a new SMS sender, stored as queued."""
    record = await store.inbound.record_inbound(
        InboundMessage(channel, AddressKind.SMS, f"+9665{uuid.uuid4().int % 10**8:08d}",
                       uuid.uuid4().hex, "hi")
    )  # fmt: skip
    assert record is not None
    (message_id,) = await store.inbound.save_turn(record, channel, {}, [OutboundMessage("hi")], [])
    return message_id


def row(store: Store, message_id: int) -> Message:
    with store.db.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        session.expunge(message)
        return message


def report(provider_id: str, status: DeliveryStatus, ref: MessageRef | None = None) -> StatusUpdate:
    return StatusUpdate("twilio", provider_id, status, reference=ref)


async def test_a_message_is_claimed_for_sending_once_however_many_ask(store: Store) -> None:
    message_id = await queued_reply(store)
    claims = await asyncio.gather(*(store.deliveries.claim([message_id]) for _ in range(5)))
    assert sorted(len(claim) for claim in claims) == [0, 0, 0, 0, 1]
    assert row(store, message_id).status == "sending"


async def test_a_send_in_doubt_is_unknown_and_its_report_settles_it(store: Store) -> None:
    message_id = await queued_reply(store)
    assert await store.deliveries.claim([message_id]) == {message_id}
    # Its worker died with the request out: nothing recorded, and found later.
    assert await store.deliveries.strand_in_doubt(timedelta(hours=1)) == []  # not yet due
    assert await store.deliveries.strand_in_doubt(timedelta(0)) == [message_id]
    assert (row(store, message_id).status, row(store, message_id).attempts) == ("unknown", 1)
    # The provider's id was never stored: only our reference finds it.
    assert not await store.deliveries.apply_status(report("SM1", DeliveryStatus.SENT))
    settled = report("SM1", DeliveryStatus.DELIVERED, MessageRef(message_id))
    assert await store.deliveries.apply_status(settled)
    message = row(store, message_id)
    assert (message.status, message.provider_id) == ("delivered", "SM1")
    # Its later reports find it by the provider's id too.
    assert await store.deliveries.apply_status(report("SM1", DeliveryStatus.READ))
    assert row(store, message_id).status == "read"


async def test_the_providers_queued_report_settles_a_send_in_doubt_as_sent(store: Store) -> None:
    message_id = await queued_reply(store)
    await store.deliveries.claim([message_id])
    await OutboundBatches(store.db).record([Outcome(message_id, DeliveryStatus.UNKNOWN)])
    queued = report("SM2", DeliveryStatus.QUEUED, MessageRef(message_id))
    assert await store.deliveries.apply_status(queued)
    assert row(store, message_id).status == "sent"  # the provider holds it: sent, as we say


async def test_a_report_before_the_workers_record_is_not_undone(store: Store) -> None:
    message_id = await queued_reply(store)
    await store.deliveries.claim([message_id])
    fast = report("SM3", DeliveryStatus.DELIVERED, MessageRef(message_id))
    assert await store.deliveries.apply_status(fast)
    await OutboundBatches(store.db).record(
        [Outcome(message_id, DeliveryStatus.SENT, provider_id="SM3")]
    )
    message = row(store, message_id)
    assert (message.status, message.provider_id, message.attempts) == ("delivered", "SM3", 1)


async def test_many_outcomes_are_recorded_in_one_go(store: Store) -> None:
    ids = [await queued_reply(store) for _ in range(3)]
    assert await store.deliveries.claim(ids) == set(ids)
    await OutboundBatches(store.db).record(
        [Outcome(i, DeliveryStatus.SENT, provider_id=f"SM-many-{i}") for i in ids[:2]]
        + [Outcome(ids[2], DeliveryStatus.UNKNOWN, error_code="no-answer")]
    )
    assert [row(store, i).status for i in ids] == ["sent", "sent", "unknown"]


async def test_a_report_of_an_earlier_attempt_changes_nothing(store: Store) -> None:
    message_id = await queued_reply(store)
    await store.deliveries.claim([message_id])
    await OutboundBatches(store.db).record(
        [Outcome(message_id, DeliveryStatus.SENT, provider_id="SM-new")]
    )
    late = report("SM-old", DeliveryStatus.FAILED, MessageRef(message_id))
    assert await store.deliveries.apply_status(late)
    assert row(store, message_id).status == "sent"


async def test_a_message_in_parts_shows_its_least_advanced_part(store: Store) -> None:
    message_id = await queued_reply(store)
    await store.deliveries.claim([message_id])
    # The second part's report comes before the worker's record.
    early = report("SM-b", DeliveryStatus.DELIVERED, MessageRef(message_id, 1))
    assert await store.deliveries.apply_status(early)
    assert row(store, message_id).status == "sending"  # its worker still holds it
    await OutboundBatches(store.db).record(
        [Outcome(message_id, DeliveryStatus.SENT, provider_id="SM-a", parts=("SM-a", "SM-b"))]
    )
    with store.db.sessions() as session:
        parts = session.execute(
            select(MessagePart.part, MessagePart.provider_id, MessagePart.status)
            .where(MessagePart.message_id == message_id)
            .order_by(MessagePart.part)
        ).all()
    assert [tuple(p) for p in parts] == [(0, "SM-a", "sent"), (1, "SM-b", "delivered")]
    assert row(store, message_id).status == "sent"
    # Each part's report finds its own row, by our reference or by its provider id alone.
    assert await store.deliveries.apply_status(report("SM-a", DeliveryStatus.READ))
    assert row(store, message_id).status == "delivered"
    assert await store.deliveries.apply_status(
        report("SM-b", DeliveryStatus.READ, MessageRef(message_id, 1))
    )
    assert row(store, message_id).status == "read"
    assert await store.deliveries.apply_status(report("SM-b", DeliveryStatus.FAILED))
    assert row(store, message_id).status == "failed"  # one part failed: the message did


def test_references_read_back_and_refuse_what_is_not_ours() -> None:
    assert str(MessageRef(12)) == "12" and str(MessageRef(12, 3)) == "12.3"
    assert MessageRef.parse("12.3") == MessageRef(12, 3)
    assert MessageRef.parse("12") == MessageRef(12)
    for foreign in (None, "", "x", "12.x", "١٢", "-1", "1" * 40, "12.3.4"):
        assert MessageRef.parse(foreign) is None
