"""Finding a beneficiary by exact name, on both backends: names are encrypted, so the search
goes through a keyed hash of the normalised name, written where the name is written (the
name a channel gives on the first message; the support form's name answer), kept by a merge,
wiped by an erase, and filled in by the migration for names stored before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from bot.crypto import Cipher
from bot.db import Database
from bot.effects import FileRequest
from bot.migrate import alembic_config, upgrade
from bot.models import AddressKind, InboundMessage
from bot.storage import Store
from bot.tables import Contact, SupportRequest

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_name_hashes_alike_however_it_is_typed(cipher: Cipher) -> None:
    plain = cipher.name_hash("محمد العتيبي")
    assert plain is not None
    for typed in (
        "محمّد  العتيبي",  # a shadda and two spaces
        "مُحَمَّد العتيبي",  # full diacritics
        "محـــمد العتيبي",  # tatweel
        " محمد\tالعتيبي ",
    ):
        assert cipher.name_hash(typed) == plain, typed
    assert cipher.name_hash("أحمد الزهراني") == cipher.name_hash("احمد الزهرانى")
    assert cipher.name_hash("فاطمة") == cipher.name_hash("فاطمه")
    assert cipher.name_hash("Sara Ali") == cipher.name_hash("sara  ALI")
    assert cipher.name_hash("محمد العتيبي") != cipher.name_hash("محمد العتيبى الثاني")
    assert cipher.name_hash("") is None and cipher.name_hash("  ") is None
    # Not the same key as the national-ID and phone hashes of the same text.
    assert cipher.name_hash("محمد") != cipher.lookup_hash("محمد")


def _inbound(provider_id: str, address: str, name: str | None) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp",
        address_kind=AddressKind.WHATSAPP,
        address=address,
        provider_id=provider_id,
        text="مرحبا",
        sender_name=name,
    )


async def test_names_from_a_channel_and_from_the_form_are_found(
    store: Store, cipher: Cipher
) -> None:
    first = await store.inbound.record_inbound(_inbound("w1", "+966500000001", "محمد العتيبي"))
    second = await store.inbound.record_inbound(_inbound("w2", "+966500000002", None))
    assert first is not None and second is not None
    find = store.contact_cases.find
    assert await find(name_hash=cipher.name_hash("محمّد  العتيبي")) == [first.contact_id]
    assert await find(name_hash=cipher.name_hash("محمد")) == []  # exact names only

    # The second beneficiary files a request: the form's name answer is searchable too.
    filed = FileRequest(
        reference="R-200000001",
        request_type="rent",
        national_id="1000000008",
        answers={"full_name": "فاطمة أحمد الزهراني", "national_id": "1000000008"},
        attestation_version="2025-01",
        attested_at=NOW,
        decision_due=NOW + timedelta(days=14),
        full_name="فاطمة أحمد الزهراني",
    )
    await store.inbound.save_turn(second, "whatsapp", {}, [], [filed], NOW)
    assert await find(name_hash=cipher.name_hash("فاطمه احمد الزهرانى")) == [second.contact_id]

    # A merge keeps the name (and its hash) of the one without a name; an erase wipes both.
    await store.contact_cases.merge(second.contact_id, first.contact_id, "o@example.org")
    assert await find(name_hash=cipher.name_hash("محمد العتيبي")) == [second.contact_id]
    await store.contact_cases.erase(second.contact_id, "o@example.org")
    assert await find(name_hash=cipher.name_hash("محمد العتيبي")) == []
    assert await find(name_hash=cipher.name_hash("فاطمة أحمد الزهراني")) == []


def test_the_migration_hashes_the_names_stored_before_it(database_url: str, cipher: Cipher) -> None:
    config = alembic_config(database_url)
    before = ScriptDirectory.from_config(config).get_revision("0013").down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    db = Database(database_url)
    try:
        with db.engine.begin() as connection:
            contact_id = connection.execute(
                text(
                    "INSERT INTO contacts (created_at, display_name) VALUES (:at, :name) "
                    "RETURNING id"
                ),
                {"at": NOW, "name": cipher.encrypt("سارة القحطاني")},
            ).scalar_one()
            connection.execute(
                text("INSERT INTO contacts (created_at, display_name) VALUES (:at, :name)"),
                {"at": NOW, "name": Cipher("another-key-entirely-16").encrypt("غير مقروء")},
            )
            connection.execute(
                text(
                    "INSERT INTO support_requests (reference, contact_id, request_type, status, "
                    "national_id_hash, answers, channel, attestation_version, attested_at, "
                    "submitted_at, decision_due) VALUES ('R-300000001', :contact, 'rent', "
                    "'submitted', 'h', :answers, 'webchat', 'v1', :at, :at, :at)"
                ),
                {
                    "contact": contact_id,
                    "answers": cipher.encrypt('{"full_name": "نورة سعد العمري"}'),
                    "at": NOW,
                },
            )
        upgrade(database_url)
        with db.sessions() as session:
            hashes = session.scalars(select(Contact.display_name_hash).order_by(Contact.id)).all()
            assert hashes == [cipher.name_hash("ساره القحطاني"), None]  # one it cannot read
            request_hash = session.scalar(select(SupportRequest.name_hash))
            assert request_hash == cipher.name_hash("نوره سعد العمري")
    finally:
        db.close()
