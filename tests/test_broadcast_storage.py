"""Broadcast storage on both backends: the audience and its filters, batches claimed once,
consent and stop checked again, the counts (bot/storage/broadcasts.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, update

from bot.crypto import Cipher
from bot.profile import Profile
from bot.storage import Store
from bot.storage.broadcasts import Broadcasts, BroadcastSpec
from bot.storage.outbound_batch import OutboundBatches
from bot.tables import ConsentRecord, ContactAddress
from tests.test_broadcast import seed

SPEC = BroadcastSpec(text_ar="تحديث", text_en="An update")


async def test_batches_are_claimed_once_and_consent_is_checked_again(
    store: Store, cipher: Cipher, profile: Profile
) -> None:
    url = store.db.url
    yes = seed(url, cipher, [True] * 7)
    english = seed(url, cipher, [True] * 2, language="en")
    seed(url, cipher, [None, False, False])
    broadcasts = Broadcasts(store.db)
    assert await broadcasts.count(SPEC, "ar") == {"twilio": 9}
    assert await broadcasts.count(BroadcastSpec("a", "b", language="en"), "ar") == {"twilio": 2}
    assert await broadcasts.count(BroadcastSpec("a", "b", channels=("telegram",)), "ar") == {}
    broadcast_id, per_channel = await broadcasts.create(SPEC, "ar")
    assert per_channel == {"twilio": 9}

    # Two workers claiming at once: every recipient in exactly one batch.
    claims = await asyncio.gather(
        *(broadcasts.claim_batch(broadcast_id, 3, profile, ["twilio"]) for _ in range(2))
    )
    first_ids = [message_id for _taken, ids in claims for message_id in ids]
    assert len(first_ids) == len(set(first_ids)) == 6

    # Someone opts out (a newer consent record) and someone's address is stopped.
    with store.db.sessions.begin() as session:
        contact_of = {
            phone: session.scalar(
                ContactAddress.__table__.select()
                .with_only_columns(ContactAddress.contact_id)
                .where(ContactAddress.address_hash == cipher.lookup_hash(phone))
            )
            for phone in (yes[0], english[-1])
        }
        session.execute(
            insert(ConsentRecord).values(
                contact_id=contact_of[yes[0]], purpose="updates", granted=False,
                channel="twilio", source="keyword", wording_version="v1",
            )
        )  # fmt: skip
        session.execute(
            update(ContactAddress)
            .where(ContactAddress.contact_id == contact_of[english[-1]])
            .values(stopped_at=datetime.now(UTC))
        )
    unwanted = await broadcasts.unwanted(first_ids)
    assert sorted(unwanted.values()) == ["opted out"]  # the first in line was claimed
    await broadcasts.skip_messages(unwanted)
    taken, rest = await broadcasts.claim_batch(broadcast_id, 10, profile, ["twilio"])
    assert taken == 3 and len(rest) == 2  # the stopped address is skipped, not messaged
    assert await broadcasts.claim_batch(broadcast_id, 10, profile, ["twilio"]) == (0, [])

    counts = await broadcasts.counts(broadcast_id)
    assert counts is not None
    assert (counts.total, counts.pending, counts.queued) == (9, 0, 7)
    assert counts.skipped == {"opted out": 1, "address stopped": 1}
    assert not await broadcasts.finish_if_done(broadcast_id)  # 7 still to send
    assert await broadcasts.cancel(broadcast_id)
    assert set((await broadcasts.unwanted(rest)).values()) == {"broadcast cancelled"}


async def test_whatsapp_outside_the_window_gets_the_template_or_is_skipped(
    store: Store, cipher: Cipher, profile: Profile
) -> None:
    url = store.db.url
    late = timedelta(days=2)
    meta = seed(url, cipher, [True], kind="whatsapp", channel="whatsapp", wrote_ago=late)
    twilio = seed(url, cipher, [True], kind="whatsapp", channel="twilio", wrote_ago=late)
    recent = seed(url, cipher, [True], kind="whatsapp", channel="twilio")
    assert meta and twilio and recent
    broadcasts = Broadcasts(store.db)
    broadcast_id, _ = await broadcasts.create(SPEC, "ar")
    _taken, ids = await broadcasts.claim_batch(broadcast_id, 10, profile, ["twilio", "whatsapp"])
    messages = [await store.deliveries.delivery(message_id) for message_id in ids]
    by_channel = {d.channel: d.message for d in messages if d is not None}
    # Meta has the profile's approved update template; the example has no Twilio one for it.
    template = by_channel["whatsapp"].template
    assert template is not None and template.name == "broadcast_update"
    assert template.variables["1"].startswith("تحديث")
    assert by_channel["twilio"].template is None  # the recent writer gets free text
    counts = await broadcasts.counts(broadcast_id)
    assert counts is not None
    assert counts.skipped == {"WhatsApp window closed, no approved template": 1}


async def test_a_time_given_in_the_association_zone_is_kept_as_the_same_instant(
    store: Store,
) -> None:
    """`--at 2027-03-01T09:00+03:00` (and the console's Riyadh time) is 06:00 UTC on both
    backends: SQLite used to keep the wall time and drop the offset (three hours late)."""
    from zoneinfo import ZoneInfo

    broadcasts = Broadcasts(store.db)
    at = datetime(2027, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Riyadh"))
    broadcast_id, _ = await broadcasts.create(
        BroadcastSpec("a", "b", at=at, created_by="manager@example.org"), "ar"
    )
    [summary] = [s for s in await broadcasts.summaries() if s.id == broadcast_id]
    assert summary.scheduled_at == datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
    assert (summary.text_ar, summary.created_by) == ("a", "manager@example.org")


async def test_a_workers_loads_and_counts_wait_for_no_writer(
    store: Store, cipher: Cipher, profile: Profile
) -> None:
    """What a worker only reads (a batch to send, consent checked again, the counts) is
    answered while another process holds the write lock: SQLite's one lock, or PostgreSQL's
    on the tables; so a broadcast's counting stops no one's writes either."""
    seed(store.db.url, cipher, [True] * 3)
    broadcasts = Broadcasts(store.db)
    broadcast_id, _ = await broadcasts.create(SPEC, "ar")
    _taken, ids = await broadcasts.claim_batch(broadcast_id, 3, profile, ["twilio"])
    writer = store.db.engine.raw_connection()  # another process's writing transaction
    cursor = writer.cursor()
    sqlite = store.db.engine.dialect.name == "sqlite"
    cursor.execute(
        "BEGIN IMMEDIATE"
        if sqlite
        else "LOCK TABLE messages, broadcast_recipients IN EXCLUSIVE MODE"
    )
    try:
        loaded = await asyncio.wait_for(OutboundBatches(store.db).load(ids), 5)
        unwanted = await asyncio.wait_for(broadcasts.unwanted(ids), 5)
        counts = await asyncio.wait_for(broadcasts.counts(broadcast_id), 5)
    finally:
        if sqlite:
            cursor.execute("ROLLBACK")
        else:
            writer.rollback()
        writer.close()
    assert sorted(loaded) == sorted(ids) and len(ids) == 3
    assert unwanted == {}
    assert counts is not None and counts.total == 3
