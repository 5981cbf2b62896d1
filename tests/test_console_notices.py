"""Notices past WhatsApp's 24-hour window, over the whole web app (real SQLite and Redis) with
a profile that has no approved template for them: closing a hand-off or a complaint, or a
request's new status, does not queue free text that the provider would refuse later; the
notice is kept as not sent, with the reason, on the conversation's timeline and on the
complaint's page, and nothing goes to the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.models import utcnow
from bot.tables import (
    Complaint,
    Handoff,
    Message,
    SupportRequest,
)
from tests.conftest import PROFILE
from tests.console_helpers import ConsoleServer, console_server, email_of, page_token, sign_in
from tests.test_console_work_storage import beneficiary
from worker.defaults import outbox_key

NOT_SENT = "لم تُرسل: انقضت نافذة واتساب"
COMPLAINT, REQUEST = "C-500000001", "R-500000002"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    for name in ("handoff_closed", "complaint_update", "request_status_update"):
        del data["templates"][name]
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with console_server(tmp_path, profile=profile) as server:
        yield server


def whatsapp_beneficiary(console: ConsoleServer) -> tuple[int, int]:
    """A WhatsApp beneficiary who last wrote 25 hours ago, with an open hand-off and an open
    complaint: (conversation id, hand-off id)."""
    at = utcnow() - timedelta(hours=25)
    contact_id, _address, conversation_id = beneficiary(
        console.runtime.store, "+966501112233", "whatsapp", at
    )
    with console.runtime.store.db.sessions.begin() as session:
        handoff = Handoff(
            contact_id=contact_id,
            conversation_id=conversation_id,
            domain="beneficiary_relations",
            officer_email="relations@example.org",
            reason="requested",
            status="open",
        )
        session.add(handoff)
        session.add(
            Complaint(
                reference=COMPLAINT,
                contact_id=contact_id,
                category="service_quality",
                description="لم يصلني رد",
                status="open",
                channel="whatsapp",
                respond_by=at + timedelta(days=3),
            )
        )
        session.add(
            SupportRequest(
                reference=REQUEST,
                contact_id=contact_id,
                request_type="rent",
                status="submitted",
                national_id_hash="nid-notice",
                answers={"full_name": "فهد سالم الدوسري"},
                channel="whatsapp",
                attestation_version="2025-01",
                attested_at=at,
                decision_due=at + timedelta(days=14),
            )
        )
        session.flush()
        return conversation_id, handoff.id


async def test_without_a_template_a_late_notice_is_kept_as_not_sent(
    console: ConsoleServer,
) -> None:
    conversation_id, handoff_id = whatsapp_beneficiary(console)
    async with console.client() as officer:
        await sign_in(console, officer, email_of("officer"))
        token = await page_token(console, officer)
        async with officer.post(
            console.url(f"/console/handoffs/{handoff_id}/close"),
            data={"csrf_token": token, "next": f"/console/conversations/{conversation_id}"},
        ) as closed:
            assert closed.status == 200
            timeline = (await closed.text()).split('class="timeline"', 1)[1]
            assert NOT_SENT in timeline.split("</ol>", 1)[0]
        async with officer.post(
            console.url(f"/console/complaints/{COMPLAINT}/close"),
            data={"csrf_token": token, "response": "نعتذر، عولج الأمر"},
        ) as answered:
            assert answered.status == 200
            page = await answered.text()
            notice = page.split('class="notice"', 1)[1].split("</dd>", 1)[0]
            assert notice.lstrip(">").startswith("لم تصل")
            assert NOT_SENT in notice
    async with console.client() as researcher:
        await sign_in(console, researcher, email_of("researcher"))
        token = await page_token(console, researcher)
        async with researcher.post(
            console.url(f"/console/requests/{REQUEST}/status"),
            data={"csrf_token": token, "status": "under_review"},
        ) as studied:
            assert studied.status == 200
            assert "قيد الدراسة" in await studied.text()
    with console.runtime.store.db.sessions() as session:
        handoff = session.get(Handoff, handoff_id)
        assert handoff is not None and handoff.status == "closed"  # closed all the same
        complaint = session.scalar(select(Complaint).where(Complaint.reference == COMPLAINT))
        assert complaint is not None and complaint.status == "closed"
        kept = session.execute(
            select(Message.id, Message.status, Message.error_code, Message.body)
            .where(Message.direction == "out")
            .order_by(Message.id)
        ).all()
    assert [(status, error) for _id, status, error, _body in kept] == [
        ("failed", "no_template"),
        ("failed", "no_template"),
        ("failed", "no_template"),
    ]
    assert kept[1].body.startswith(f"عولجت شكواك رقم {COMPLAINT}")  # what would have gone
    assert complaint.notice_message_id == kept[1].id
    # Nothing was handed to the worker to fail at the provider.
    queue = console.runtime.settings.queue_name
    assert await console.runtime.redis.lrange(outbox_key(queue), 0, -1) == []
