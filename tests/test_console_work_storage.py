"""The console's writes on both backends: a request moves only along its path and the
message that tells the beneficiary is stored with the change; a hand-off closes once; a
merge joins the history; a deletion erases the personal fields and keeps the counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.models import OutboundMessage
from bot.storage import Store
from bot.storage.casework import NotAllowed, Outgoing
from bot.tables import (
    AuditEntry,
    Complaint,
    Contact,
    ContactAddress,
    Conversation,
    Handoff,
    Message,
    RequestStatusEvent,
    SupportRequest,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def beneficiary(
    store: Store, tag: str, channel: str = "webchat", wrote_at: datetime | None = None
) -> tuple[int, int, int]:
    """A contact with one address (web chat unless told), a conversation and one message in
    (written now unless told)."""
    with store.db.sessions.begin() as session:
        contact = Contact(language="ar", display_name=f"أحمد {tag}", national_id=None)
        session.add(contact)
        session.flush()
        address = ContactAddress(
            contact_id=contact.id, kind=channel, address=tag, address_hash=f"h-{tag}"
        )
        session.add(address)
        session.flush()
        conversation = Conversation(contact_id=contact.id, last_address_id=address.id)
        session.add(conversation)
        session.flush()
        session.add(
            Message(
                conversation_id=conversation.id,
                address_id=address.id,
                direction="in",
                channel=channel,
                provider_id=f"p-{tag}",
                body="مرحبا",
                status="handled",
                created_at=wrote_at or datetime.now(UTC),
            )
        )
        return contact.id, address.id, conversation.id


def filed_request(store: Store, contact_id: int, reference: str) -> None:
    with store.db.sessions.begin() as session:
        session.add(
            SupportRequest(
                reference=reference,
                contact_id=contact_id,
                request_type="rent",
                status="submitted",
                national_id_hash=f"nid-{reference}",
                answers={"full_name": "أحمد"},
                channel="webchat",
                attestation_version="v1",
                attested_at=NOW,
                decision_due=NOW + timedelta(days=14),
            )
        )


async def test_request_status_path_and_notice(store: Store) -> None:
    contact_id, address_id, conversation_id = beneficiary(store, "r1")
    filed_request(store, contact_id, "R-100000001")
    notice = Outgoing(conversation_id, address_id, "webchat", OutboundMessage("قيد الدراسة"))
    with pytest.raises(NotAllowed):  # the committee's path has no shortcut
        await store.casework.set_request_status(
            "R-100000001", "accepted", "r@example.org", None, date(2026, 12, 1), notice
        )
    message_id = await store.casework.set_request_status(
        "R-100000001", "under_review", "r@example.org", "بدأت الدراسة", None, notice
    )
    await store.casework.set_request_status(
        "R-100000001", "accepted", "r@example.org", None, date(2026, 12, 1), None
    )
    delivery = await store.deliveries.delivery(message_id or 0)
    assert delivery is not None and delivery.message.text == "قيد الدراسة"
    assert delivery.status.value == "queued" and delivery.address == "r1"
    view = await store.requests.request("R-100000001")
    assert view is not None and [s for s, _ in view.history] == ["under_review", "accepted"]
    with store.db.sessions() as session:
        events = session.scalars(select(RequestStatusEvent).order_by(RequestStatusEvent.id)).all()
        assert [(e.note, e.decided_on) for e in events] == [
            ("بدأت الدراسة", None),
            (None, date(2026, 12, 1)),
        ]
        audited = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "r@example.org")
        ).all()
        assert audited == ["support_request.status_changed"] * 2


async def test_a_hand_off_closes_once(store: Store) -> None:
    contact_id, address_id, conversation_id = beneficiary(store, "h1")
    with store.db.sessions.begin() as session:
        handoff = Handoff(
            contact_id=contact_id,
            conversation_id=conversation_id,
            domain="beneficiary_relations",
            officer_email="o@example.org",
            reason="requested",
            status="open",
        )
        session.add(handoff)
        session.flush()
        handoff_id = handoff.id
    assert await store.casework.assign_handoff(handoff_id, "o@example.org", "o@example.org")
    told = Outgoing(conversation_id, address_id, "webchat", OutboundMessage("عاد المساعد"))
    assert await store.casework.close_handoff(handoff_id, "o@example.org", told) is not None
    with pytest.raises(NotAllowed):
        await store.casework.close_handoff(handoff_id, "o@example.org", told)
    assert not await store.casework.assign_handoff(handoff_id, "x@example.org", "o@example.org")
    assert not await store.reads.handoff_open(handoff_id)
    with store.db.sessions() as session:
        sent = session.scalars(
            select(Message.body).where(
                Message.conversation_id == conversation_id, Message.direction == "out"
            )
        ).all()
        assert sent == ["عاد المساعد"]  # told once (bodies are encrypted: read, not matched)


async def test_merge_then_erase_keeps_the_counts(store: Store) -> None:
    kept, _address, kept_conversation = beneficiary(store, "m1")
    gone, _other, _gone_conversation = beneficiary(store, "m2")
    with store.db.sessions.begin() as session:
        session.add(
            Complaint(
                reference="C-100000002",
                contact_id=gone,
                category="other",
                description="وصف الشكوى",
                status="open",
                channel="webchat",
                respond_by=NOW,
            )
        )
    await store.contact_cases.merge(kept, gone, "o@example.org")
    card = await store.contact_cases.card(kept)
    assert card is not None and [c[0] for c in card.complaints] == ["C-100000002"]
    assert sorted(a.address for a in card.addresses) == ["m1", "m2"]
    await store.contact_cases.erase(kept, "o@example.org")
    with store.db.sessions() as session:
        assert session.get(Contact, gone) is None
        contact = session.get(Contact, kept)
        assert contact is not None and contact.display_name is None
        bodies = session.scalars(
            select(Message.body).where(Message.conversation_id == kept_conversation)
        ).all()
        assert bodies == [None, None]  # both contacts' messages, still counted
        complaint = session.scalar(select(Complaint))
        assert complaint is not None and complaint.description == "—"
    found = await store.contact_cases.find(reference="C-100000002")
    assert found == [kept]


async def test_a_request_waiting_for_papers_is_still_the_open_one(store: Store) -> None:
    contact_id, _address, _conversation = beneficiary(store, "n1")
    filed_request(store, contact_id, "R-100000003")
    for status in ("under_review", "needs_info"):
        await store.casework.set_request_status(
            "R-100000003", status, "r@example.org", "صورة الصك", None, None
        )
    with store.db.sessions() as session:
        national_id_hash = session.scalar(select(SupportRequest.national_id_hash))
    assert national_id_hash == "nid-R-100000003"
    with store.db.sessions.begin() as session, pytest.raises(IntegrityError):
        # The database keeps one open request per national ID.
        session.add(
            SupportRequest(
                reference="R-100000004",
                contact_id=contact_id,
                request_type="rent",
                status="submitted",
                national_id_hash=national_id_hash,
                answers={},
                channel="webchat",
                attestation_version="v1",
                attested_at=NOW,
                decision_due=NOW,
            )
        )
        session.flush()
