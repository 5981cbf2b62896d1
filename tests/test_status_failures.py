"""Storage on SQLite and PostgreSQL for issue 12: what an error code in a status report does to
the stored message (a throttled one claimed for exactly one new send, even when the report
comes several times at once; a stopped recipient's address stopped), and WhatsApp users known
only by their user id kept apart from phone numbers."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.models import (
    AddressKind,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    SendFailure,
    StatusUpdate,
)
from bot.storage import Store
from bot.storage.deliveries import MAX_SEND_ATTEMPTS
from bot.tables import ContactAddress

PHONE = "+966501234567"
USER_ID = "SA.13491208655302741918"


def inbound(provider_id: str, kind: AddressKind, address: str) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp", address_kind=kind, address=address, provider_id=provider_id, text="hi"
    )


async def sent_reply(store: Store, provider_id: str, address: str = PHONE) -> int:
    """A reply to `address`, sent and known to the provider as `provider_id`."""
    record = await store.inbound.record_inbound(
        inbound(f"in-{provider_id}", AddressKind.WHATSAPP, address)
    )
    assert record is not None
    (message_id,) = await store.inbound.save_turn(
        record, "whatsapp", {}, [OutboundMessage("hi")], []
    )
    await store.deliveries.mark_attempt(message_id, DeliveryStatus.SENT, provider_id=provider_id)
    return message_id


def failed(provider_id: str, code: str, failure: SendFailure) -> StatusUpdate:
    return StatusUpdate("whatsapp", provider_id, DeliveryStatus.FAILED, code, failure=failure)


async def test_a_throttled_report_claims_one_resend_however_often_it_comes(store: Store) -> None:
    message_id = await sent_reply(store, "wamid.T1")
    report = failed("wamid.T1", "130429", SendFailure.THROTTLED)
    claims = await asyncio.gather(*(store.deliveries.claim_resend(report) for _ in range(5)))
    assert sorted(claims, key=str) == [message_id, None, None, None, None]
    delivery = await store.deliveries.delivery(message_id)
    assert delivery is not None and delivery.status is DeliveryStatus.QUEUED
    # The refused id is forgotten: a late copy of the report changes nothing.
    assert not await store.deliveries.apply_status(report)
    delivery = await store.deliveries.delivery(message_id)
    assert delivery is not None and delivery.status is DeliveryStatus.QUEUED


async def test_a_throttled_report_after_the_last_attempt_fails_the_message(store: Store) -> None:
    message_id = await sent_reply(store, "wamid.T2")
    for _ in range(MAX_SEND_ATTEMPTS - 1):
        await store.deliveries.mark_attempt(message_id, DeliveryStatus.SENT)
    report = failed("wamid.T2", "63018", SendFailure.THROTTLED)
    assert await store.deliveries.claim_resend(report) is None
    assert await store.deliveries.apply_status(report)
    delivery = await store.deliveries.delivery(message_id)
    assert delivery is not None and delivery.status is DeliveryStatus.FAILED


async def test_only_retried_failures_are_claimed(store: Store) -> None:
    await sent_reply(store, "wamid.T3")
    for report in (
        failed("wamid.T3", "131026", SendFailure.PERMANENT),
        failed("wamid.T3", "131047", SendFailure.WINDOW_CLOSED),
        StatusUpdate("whatsapp", "wamid.T3", DeliveryStatus.DELIVERED),
    ):
        assert await store.deliveries.claim_resend(report) is None


async def test_a_stopped_report_stops_the_address(store: Store) -> None:
    message_id = await sent_reply(store, "wamid.S1", "+966507770001")
    assert await store.deliveries.apply_status(failed("wamid.S1", "21610", SendFailure.STOPPED))
    delivery = await store.deliveries.delivery(message_id)
    assert delivery is not None and delivery.status is DeliveryStatus.FAILED
    with store.db.sessions() as session:
        stopped = session.scalar(
            select(ContactAddress.stopped_at).where(
                ContactAddress.address_hash == store.cipher.lookup_hash("+966507770001")
            )
        )
    assert stopped is not None


async def test_a_permanent_failure_report_does_not_stop_the_address(store: Store) -> None:
    await sent_reply(store, "wamid.S2", "+966507770002")
    assert await store.deliveries.apply_status(failed("wamid.S2", "131026", SendFailure.PERMANENT))
    with store.db.sessions() as session:
        stopped = session.scalar(
            select(ContactAddress.stopped_at).where(
                ContactAddress.address_hash == store.cipher.lookup_hash("+966507770002")
            )
        )
    assert stopped is None


async def test_a_user_id_is_its_own_contact_and_shown_as_whatsapp(store: Store) -> None:
    by_id = await store.inbound.record_inbound(inbound("B1", AddressKind.WHATSAPP_USER, USER_ID))
    by_phone = await store.inbound.record_inbound(inbound("B2", AddressKind.WHATSAPP, PHONE))
    again = await store.inbound.record_inbound(inbound("B3", AddressKind.WHATSAPP_USER, USER_ID))
    assert by_id is not None and by_phone is not None and again is not None
    assert by_id.contact_id != by_phone.contact_id  # never joined by a number it does not have
    assert again.contact_id == by_id.contact_id and not again.is_new_contact
    delivery_kind = AddressKind.WHATSAPP_USER
    (reply,) = await store.inbound.save_turn(again, "whatsapp", {}, [OutboundMessage("hi")], [])
    delivery = await store.deliveries.delivery(reply)
    assert delivery is not None
    assert (delivery.address_kind, delivery.address) == (delivery_kind, USER_ID)
    summary = await store.contacts.summary(by_id.contact_id)
    assert summary.channels == ("whatsapp",)
