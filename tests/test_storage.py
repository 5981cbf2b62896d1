"""Storage on SQLite and PostgreSQL: contacts, dedupe, effects, statuses, encryption at rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bot.crypto import Cipher, DecryptionError
from bot.effects import Audit, RecordConsent, SetLanguage
from bot.models import (
    AddressKind,
    Button,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    StatusUpdate,
)
from bot.storage import Store
from bot.tables import Base, Contact

NATIONAL_ID = "1012345675"
PHONE = "+966501234567"


def inbound(provider_id: str, text: str = "مرحبا", address: str = PHONE) -> InboundMessage:
    return InboundMessage(
        channel="twilio",
        address_kind=AddressKind.WHATSAPP,
        address=address,
        provider_id=provider_id,
        text=text,
        sender_name="فاطمة أحمد",
    )


def raw_dump(store: Store) -> str:
    """Every value of every table as the database holds it, bypassing our column types."""
    chunks = []
    with store.db.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(text(f"SELECT * FROM {table.name}")).all()
            chunks.append(repr(rows))
    return "\n".join(chunks)


async def test_first_message_creates_one_contact_reused_after(store: Store) -> None:
    first = await store.inbound.record_inbound(inbound("SM1"))
    second = await store.inbound.record_inbound(inbound("SM2"))
    assert first is not None and second is not None
    assert first.is_new_contact and not second.is_new_contact
    assert (first.contact_id, first.address_id, first.conversation_id) == (
        second.contact_id,
        second.address_id,
        second.conversation_id,
    )
    other = await store.inbound.record_inbound(inbound("SM3", address="+966551112222"))
    assert other is not None and other.contact_id != first.contact_id


async def test_duplicate_is_ignored_once_handled_but_returned_while_unhandled(
    store: Store,
) -> None:
    record = await store.inbound.record_inbound(inbound("SM10"))
    assert record is not None
    # Recorded but not handled (a crash mid-turn): the provider's retry is handled again.
    again = await store.inbound.record_inbound(inbound("SM10"))
    assert again is not None and again.message_id == record.message_id
    await store.inbound.save_turn(record, "twilio", {"flow": None}, [], [])
    assert await store.inbound.record_inbound(inbound("SM10")) is None
    assert await store.deliveries.count_messages("in") == 1


async def test_personal_data_is_not_stored_in_clear_text(store: Store, cipher: Cipher) -> None:
    record = await store.inbound.record_inbound(inbound("SM20", text=f"رقم هويتي {NATIONAL_ID}"))
    assert record is not None
    with store.db.sessions.begin() as session:
        contact = session.get(Contact, record.contact_id)
        assert contact is not None
        contact.national_id = NATIONAL_ID
        contact.national_id_hash = cipher.lookup_hash(NATIONAL_ID)
    reply = OutboundMessage(f"تم تسجيل الهوية {NATIONAL_ID}")
    await store.inbound.save_turn(
        record, "twilio", {"data": {"national_id": NATIONAL_ID}}, [reply], []
    )

    dump = raw_dump(store)
    for secret in (NATIONAL_ID, PHONE, "فاطمة", "هويتي"):
        assert secret not in dump
    # …and it all reads back in clear through the application.
    with store.db.sessions() as session:
        contact = session.get(Contact, record.contact_id)
        assert contact is not None
        assert (contact.national_id, contact.display_name) == (NATIONAL_ID, "فاطمة أحمد")
    assert (await store.inbound.load_state(record.conversation_id)) == {
        "data": {"national_id": NATIONAL_ID}
    }


async def test_sqlite_file_has_no_clear_personal_data(tmp_path: Path, cipher: Cipher) -> None:
    from bot.db import Database
    from bot.migrate import upgrade_async

    url = f"sqlite:///{tmp_path / 'raw.db'}"
    await upgrade_async(url)
    db = Database(url)
    store = Store(db, cipher)
    record = await store.inbound.record_inbound(inbound("SM30", text=f"هويتي {NATIONAL_ID}"))
    assert record is not None
    db.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("raw.db*"))
    assert NATIONAL_ID.encode() not in raw and PHONE.encode() not in raw
    assert "هويتي".encode() not in raw


async def test_another_key_cannot_read_the_data(cipher: Cipher) -> None:
    token = cipher.encrypt(NATIONAL_ID)
    assert cipher.decrypt(token) == NATIONAL_ID
    with pytest.raises(DecryptionError):
        Cipher("a-completely-different-secret").decrypt(token)
    assert cipher.lookup_hash(NATIONAL_ID) != Cipher("another-secret-key!!").lookup_hash(
        NATIONAL_ID
    )


async def test_save_turn_stores_state_effects_and_queued_replies(store: Store) -> None:
    record = await store.inbound.record_inbound(inbound("SM40"))
    assert record is not None
    replies = [OutboundMessage("one", buttons=(Button("menu:x", "X"),)), OutboundMessage("two")]
    ids = await store.inbound.save_turn(
        record,
        "twilio",
        {"flow": "menu"},
        replies,
        [
            SetLanguage("en"),
            RecordConsent("updates", False, "keyword", "2025-01"),
            Audit("test.event", {"k": 1}),
        ],
    )
    assert len(ids) == 2
    delivery = await store.deliveries.delivery(ids[0])
    assert delivery is not None
    assert delivery.message == replies[0] and delivery.status is DeliveryStatus.QUEUED
    assert (delivery.address_kind, delivery.address) == (AddressKind.WHATSAPP, PHONE)
    assert await store.consent.consent(record.contact_id, "updates") is False
    again = await store.inbound.record_inbound(inbound("SM41"))
    assert again is not None and again.language == "en"


async def test_status_reports_only_move_forward(store: Store) -> None:
    record = await store.inbound.record_inbound(inbound("SM50"))
    assert record is not None
    (message_id,) = await store.inbound.save_turn(record, "twilio", {}, [OutboundMessage("hi")], [])
    await store.deliveries.mark_attempt(message_id, DeliveryStatus.SENT, provider_id="SMout1")
    assert await store.deliveries.apply_status(
        StatusUpdate("twilio", "SMout1", DeliveryStatus.DELIVERED)
    )
    # A late "sent" report does not move a delivered message back.
    assert await store.deliveries.apply_status(
        StatusUpdate("twilio", "SMout1", DeliveryStatus.SENT)
    )
    delivery = await store.deliveries.delivery(message_id)
    assert delivery is not None and delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    assert not await store.deliveries.apply_status(
        StatusUpdate("twilio", "unknown", DeliveryStatus.READ)
    )


async def test_whatsapp_and_sms_from_one_phone_are_one_contact(store: Store) -> None:
    on_whatsapp = await store.inbound.record_inbound(inbound("SM60", address="+966507777777"))
    sms = InboundMessage(
        channel="twilio",
        address_kind=AddressKind.SMS,
        address="+966507777777",
        provider_id="SM61",
        text="hi",
    )
    on_sms = await store.inbound.record_inbound(sms)
    assert on_whatsapp is not None and on_sms is not None
    assert on_sms.contact_id == on_whatsapp.contact_id
    assert on_sms.conversation_id == on_whatsapp.conversation_id
    assert on_sms.address_id != on_whatsapp.address_id  # replies go back where they came from
    assert not on_sms.is_new_contact


async def test_a_stopped_address_that_writes_again_is_reachable_again(store: Store) -> None:
    from sqlalchemy import select

    from bot.tables import ContactAddress

    first = await store.inbound.record_inbound(inbound("SM70", address="+966508888888"))
    assert first is not None
    (reply,) = await store.inbound.save_turn(first, "twilio", {}, [OutboundMessage("hi")], [])
    await store.deliveries.stop_address(reply)  # e.g. Twilio 21610, or a blocked Telegram bot

    def stopped_at() -> object:
        with store.db.sessions() as session:
            return session.scalar(
                select(ContactAddress.stopped_at).where(ContactAddress.id == first.address_id)
            )

    assert stopped_at() is not None
    assert await store.inbound.record_inbound(inbound("SM71", address="+966508888888")) is not None
    assert stopped_at() is None
