"""Support requests and complaints are claimed and assigned like hand-offs, over the whole web
app (real SQLite and Redis): the inbox's filters (mine / my domains / unassigned / all) follow,
a case goes only to a colleague whose role works that kind of case, a closed case is not
reassigned, and every assignment is in the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.tables import AuditEntry, Complaint, SupportRequest
from bot.users import add_user
from tests.console_helpers import (
    PASSWORD,
    ConsoleServer,
    console_server,
    email_of,
    page_token,
    sign_in,
)
from tests.test_console_work_pages import rows
from tests.test_console_work_storage import NOW, beneficiary, filed_request

RESEARCH = "research@example.org"  # the profile's officer for social research (rent)
RELATIONS = "relations@example.org"  # and for beneficiary relations (service quality)
REQUEST, COMPLAINT = "R-400000001", "C-400000002"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as server:
        store = server.runtime.store
        await add_user(store, RESEARCH, "عبدالله الشهري", "researcher", PASSWORD)
        await add_user(store, RELATIONS, "هيفاء العمري", "officer", PASSWORD)
        contact_id, _address, _conversation = beneficiary(store, "as1")
        filed_request(store, contact_id, REQUEST)
        with store.db.sessions.begin() as session:
            session.add(
                Complaint(
                    reference=COMPLAINT,
                    contact_id=contact_id,
                    category="service_quality",
                    description="تأخر الرد",
                    status="open",
                    channel="webchat",
                    respond_by=NOW + timedelta(days=3),
                )
            )
        yield server


def assigned(console: ConsoleServer) -> tuple[str | None, str | None]:
    with console.runtime.store.db.sessions() as session:
        request = session.scalar(select(SupportRequest.assigned_to))
        complaint = session.scalar(select(Complaint.assigned_to))
        return request, complaint


async def test_requests_and_complaints_are_claimed_and_assigned(console: ConsoleServer) -> None:
    async with console.client() as researcher:
        await sign_in(console, researcher, RESEARCH)
        assert await rows(researcher, console, "domains") == [REQUEST]  # rent: social research
        assert sorted(await rows(researcher, console, "unassigned")) == [COMPLAINT, REQUEST]
        assert await rows(researcher, console, "mine") == []
        token = await page_token(console, researcher)
        async with researcher.post(
            console.url(f"/console/requests/{REQUEST}/claim"),
            data={"csrf_token": token, "next": f"/console/requests/{REQUEST}"},
            allow_redirects=False,
        ) as claimed:
            assert claimed.status == 302
            assert claimed.headers["Location"] == f"/console/requests/{REQUEST}"
        assert await rows(researcher, console, "mine") == [REQUEST]
        assert await rows(researcher, console, "unassigned") == [COMPLAINT]
        async with researcher.get(console.url(f"/console/requests/{REQUEST}")) as page:
            html = await page.text()
            assert RESEARCH in html.split('class="assigned"', 1)[1].split("</dd>", 1)[0]
        # A researcher does not work complaints: neither claims nor is given one.
        async with researcher.post(
            console.url(f"/console/complaints/{COMPLAINT}/claim"), data={"csrf_token": token}
        ) as refused:
            assert refused.status == 403

    async with console.client() as manager:
        await sign_in(console, manager, email_of("manager"))
        token = await page_token(console, manager)
        async with manager.post(
            console.url(f"/console/complaints/{COMPLAINT}/assign"),
            data={"csrf_token": token, "staff": RESEARCH},
        ) as not_theirs:
            assert not_theirs.status == 400
            assert "اختر زميلًا من القائمة" in await not_theirs.text()
        async with manager.post(
            console.url(f"/console/complaints/{COMPLAINT}/assign"),
            data={"csrf_token": token, "staff": RELATIONS.upper(), "next": "/console/"},
            allow_redirects=False,
        ) as given:
            assert given.status == 302 and given.headers["Location"] == "/console/"
        async with manager.post(
            console.url(f"/console/requests/{REQUEST}/assign"),
            data={"csrf_token": token, "staff": email_of("quality")},
        ) as quality:
            assert quality.status == 400  # the quality officer does not study requests
        async with manager.post(
            console.url("/console/requests/R-1/assign"),
            data={"csrf_token": token, "staff": ""},
            allow_redirects=False,
        ) as unknown:
            assert unknown.status == 302  # nothing to assign: nothing changes
    assert assigned(console) == (RESEARCH, RELATIONS)

    async with console.client() as officer:
        await sign_in(console, officer, RELATIONS)
        assert await rows(officer, console, "mine") == [COMPLAINT]
        assert await rows(officer, console, "domains") == [COMPLAINT]
        token = await page_token(console, officer)
        async with officer.post(
            console.url(f"/console/complaints/{COMPLAINT}/close"),
            data={"csrf_token": token, "response": "تمت المعالجة"},
            allow_redirects=False,
        ) as closed:
            assert closed.status == 302
        async with officer.get(console.url(f"/console/complaints/{COMPLAINT}")) as page:
            assert f"/console/complaints/{COMPLAINT}/claim" not in await page.text()
        async with officer.post(
            console.url(f"/console/complaints/{COMPLAINT}/assign"),
            data={"csrf_token": token, "staff": ""},
            allow_redirects=False,
        ) as after:
            assert after.status == 302
    assert assigned(console) == (RESEARCH, RELATIONS)  # a closed complaint stays as it was

    with console.runtime.store.db.sessions() as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.details)
            .where(AuditEntry.action.like("%.assigned"))
            .order_by(AuditEntry.id)
        ).all()
    assert [tuple(row) for row in audited] == [
        (RESEARCH, "support_request.assigned", {"reference": REQUEST, "assigned_to": RESEARCH}),
        (
            email_of("manager"),
            "complaint.assigned",
            {"reference": COMPLAINT, "assigned_to": RELATIONS},
        ),
    ]
