"""The manager's reports on both backends, over rows made the way the gateway makes them:
messages recorded and turns saved by the inbound path (with the requests, complaints,
hand-offs and FAQ misses their effects file), staff's changes through the console's
storage, and surveys as the survey worker leaves them in their table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.effects import FileComplaint, FileRequest, OpenHandoff, RecordUnanswered
from bot.models import AddressKind, InboundMessage, OutboundMessage, utcnow
from bot.storage import InboundRecord, Store
from bot.storage.casework import Outgoing
from bot.storage.reports import Period
from bot.tables_quality import Survey

RIYADH = ZoneInfo("Asia/Riyadh")


async def turn(
    store: Store,
    sender: str,
    text: str,
    at: datetime,
    effects: list[object] | None = None,
    channel: str = "webchat",
) -> InboundRecord:
    """A message recorded at `at` and its turn saved then, with one reply and `effects`
    (an effect may name the message: a callable given the record)."""
    kind = AddressKind.WEBCHAT if channel == "webchat" else AddressKind.WHATSAPP
    provider_id = f"p-{uuid.uuid4().hex}"
    msg = InboundMessage(channel, kind, sender, provider_id, text, received_at=at)
    record = await store.inbound.record_inbound(msg)
    assert record is not None
    made = [e(record) if callable(e) else e for e in effects or []]
    await store.inbound.save_turn(record, channel, {}, [OutboundMessage("تم")], made, now=at)  # type: ignore[arg-type]
    return record


def survey(store: Store, contact_id: int, case_id: int, rating: int | None, at: datetime) -> None:
    with store.db.sessions.begin() as session:
        session.add(
            Survey(
                case_kind="complaint",
                case_id=case_id,
                reference=f"C-{case_id}",
                contact_id=contact_id,
                channel="whatsapp",
                domain="beneficiary_relations",
                closed_by="relations@example.org",
                closed_at=at,
                status="answered" if rating else "sent",
                scheduled_for=at,
                expires_at=at + timedelta(days=3),
                rating=rating,
                answered_at=at if rating else None,
            )
        )


async def test_each_report_reads_what_the_gateway_stored(store: Store) -> None:
    now = utcnow()
    days_ago_3, days_ago_2, hours_ago_2 = (
        now - timedelta(days=3),
        now - timedelta(days=2),
        now - timedelta(hours=2),
    )
    # Two beneficiaries ask the same question the FAQ does not know, written two ways.
    for sender, text, outcome in (
        ("s1", "وين مكانكم؟", "unknown"),
        ("s2", "وين  مكانكم", "suggest"),
    ):
        await turn(store, sender, text, days_ago_3, [RecordUnanswered(text, outcome, "ar")])
    await turn(store, "s2", "مرحبا", days_ago_3)  # answered: not a miss
    # A support request, decided today; a complaint closed after its deadline.
    filed = await turn(
        store,
        "+966500000001",
        "نعم",
        days_ago_2,
        [
            FileRequest(
                "R-300000001",
                "food_basket",
                "1000000008",
                {},
                "v1",
                days_ago_2,
                days_ago_2 + timedelta(days=14),
            ),
            FileComplaint(
                "C-300000001", "aid_delay", False, "تأخر", [], days_ago_2 + timedelta(days=1)
            ),
        ],
        channel="whatsapp",
    )
    for status in ("under_review", "accepted"):
        await store.casework.set_request_status(
            "R-300000001", status, "research@example.org", None, now.date(), None
        )
    await store.complaint_cases.close(
        "C-300000001", "relations@example.org", "تمت المعالجة", None, None, None
    )
    # A hand-off opened two hours ago (the bot's own acknowledgement is not an answer),
    # answered now by an officer.
    handed = await turn(
        store,
        "s3",
        "أريد موظف",
        hours_ago_2,
        [OpenHandoff("beneficiary_relations", "relations@example.org", "requested")],
    )
    await store.casework.send(
        Outgoing(handed.conversation_id, handed.address_id, "webchat", OutboundMessage("أهلًا")),
        "relations@example.org",
    )
    survey(store, filed.contact_id, 1, 5, hours_ago_2)
    survey(store, filed.contact_id, 2, 2, days_ago_2)
    survey(store, filed.contact_id, 3, None, days_ago_2)  # asked, never rated

    week = Period(now - timedelta(days=7), now + timedelta(minutes=1), RIYADH)
    reports = store.reports
    days = await reports.messages_per_day(week)
    by_day = {(d.day, d.channel): (d.inbound, d.outbound) for d in days}
    assert by_day[(days_ago_3.astimezone(RIYADH).date(), "webchat")] == (3, 3)
    assert by_day[(days_ago_2.astimezone(RIYADH).date(), "whatsapp")] == (1, 1)
    assert sum(d.inbound for d in days) == 5 and sum(d.outbound for d in days) == 6

    (request,) = await reports.requests(week)
    assert (request.reference, request.status, request.decision) == (
        "R-300000001",
        "accepted",
        "accepted",
    )
    assert request.decided_at is not None and request.decided_at <= request.decision_due
    assert abs(request.submitted_at - days_ago_2) < timedelta(seconds=1)

    (complaint,) = await reports.complaints(week)
    assert complaint.category == "aid_delay" and complaint.status == "closed"
    assert complaint.closed_at is not None and complaint.closed_at > complaint.respond_by

    (handoff,) = await reports.handoffs(week)
    assert handoff.first_reply_by == "relations@example.org"
    assert handoff.first_reply_at is not None
    waited = handoff.first_reply_at - handoff.opened_at
    assert timedelta(hours=2) <= waited < timedelta(hours=2, minutes=5)

    answers = await reports.survey_answers(week)
    assert sorted(a.rating for a in answers) == [2, 5]
    assert {a.domain for a in answers} == {"beneficiary_relations"}

    (question,) = await reports.unanswered(week)
    assert (question.asks, question.people, question.suggested_asks) == (2, 2, 1)
    assert question.channels == ("webchat",)

    # The last day only: the hand-off, its messages and one survey; nothing older.
    day = Period(now - timedelta(days=1), now + timedelta(minutes=1), RIYADH)
    assert [a.rating for a in await reports.survey_answers(day)] == [5]
    assert await reports.requests(day) == [] and await reports.complaints(day) == []
    assert await reports.unanswered(day) == []
    assert len(await reports.handoffs(day)) == 1
    assert sum(d.inbound for d in await reports.messages_per_day(day)) == 1
    assert question.last_asked.tzinfo is not None
    assert days_ago_3.tzinfo is UTC
