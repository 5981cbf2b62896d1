"""The work pages over the whole web app (no browser): an attachment opens by its id for the
roles that may see documents, and only as stored; bad input gets a clear 4xx in the staff
member's language."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.tables import AuditEntry, Handoff, Message, MessageMedia
from bot.users import add_user
from tests.console_helpers import (
    PASSWORD,
    ConsoleServer,
    console_server,
    email_of,
    page_token,
    sign_in,
)
from tests.test_console_work_storage import beneficiary, filed_request

RELATIONS = "relations@example.org"  # the profile's officer for beneficiary relations


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as server:
        yield server


def stored_photo(console: ConsoleServer, tmp_path: Path) -> tuple[int, int, bytes]:
    """A photo a beneficiary sent, kept by the worker: (media id, conversation id, bytes)."""
    store = console.runtime.store
    _contact, address_id, conversation_id = beneficiary(store, "a1")
    content = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    path = tmp_path / "var" / "media" / "ab" / "photo.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with store.db.sessions.begin() as session:
        message = Message(
            conversation_id=conversation_id,
            address_id=address_id,
            direction="in",
            channel="webchat",
            provider_id="p-photo",
            body="",
            status="handled",
        )
        session.add(message)
        session.flush()
        media = MessageMedia(
            message_id=message.id,
            position=0,
            channel="webchat",
            content_type="image/png",
            stored_path=str(path),
            status="stored",
        )
        session.add(media)
        session.flush()
        return media.id, conversation_id, content


async def test_an_attachment_opens_by_id_for_those_who_may_see_it(
    console: ConsoleServer, tmp_path: Path
) -> None:
    media_id, conversation_id, content = stored_photo(console, tmp_path)
    async with console.client() as officer:
        await sign_in(console, officer, email_of("officer"))
        async with officer.get(console.url(f"/console/conversations/{conversation_id}")) as page:
            assert f'href="/console/attachments/{media_id}"' in await page.text()
        async with officer.get(console.url(f"/console/attachments/{media_id}")) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "image/png"
            assert await response.read() == content
        async with officer.get(console.url(f"/console/attachments/{media_id + 1}")) as missing:
            assert missing.status == 404
        async with officer.get(console.url("/console/attachments/..%2F..%2Fetc")) as odd:
            assert odd.status == 404  # an id, never a path
    async with console.client() as quality:
        await sign_in(console, quality, email_of("quality"))
        async with quality.get(console.url(f"/console/attachments/{media_id}")) as refused:
            assert refused.status == 403
    with console.runtime.store.db.sessions() as session:
        viewed = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "attachment.viewed")
        ).all()
    assert viewed == [email_of("officer")]


async def test_bad_input_gets_a_clear_answer_in_arabic(console: ConsoleServer) -> None:
    store = console.runtime.store
    contact_id, _address, conversation_id = beneficiary(store, "b1")
    filed_request(store, contact_id, "R-200000001")
    async with console.client() as researcher:
        await sign_in(console, researcher, email_of("researcher"))
        token = await page_token(console, researcher)
        async with researcher.post(
            console.url(f"/console/conversations/{conversation_id}/reply"),
            data={"csrf_token": token, "text": "   "},
        ) as empty:
            assert empty.status == 400
            assert "اكتب الرد قبل إرساله" in await empty.text()
        async with researcher.post(
            console.url("/console/requests/R-200000001/status"),
            data={"csrf_token": token, "status": "closed"},
        ) as skipped:
            assert skipped.status == 400
            assert "لا يمكن الانتقال إلى هذه الحالة" in await skipped.text()
        async with researcher.post(
            console.url("/console/requests/R-200000001/status"),
            data={"csrf_token": token, "status": "under_review"},
            allow_redirects=False,
        ) as moved:
            assert moved.status == 302
        async with researcher.post(
            console.url("/console/requests/R-200000001/status"),
            data={"csrf_token": token, "status": "accepted", "decided_on": "not a date"},
        ) as undated:
            assert undated.status == 400
            assert "اكتب تاريخ قرار اللجنة" in await undated.text()
        async with researcher.get(console.url("/console/requests/R-999")) as unknown:
            assert unknown.status == 404
        async with researcher.post(
            console.url("/console/requests/R-200000001/status"),
            data={"status": "accepted", "decided_on": "2026-12-01"},
        ) as forged:
            assert forged.status == 403  # no CSRF token
    async with console.client() as officer:
        await sign_in(console, officer, email_of("officer"))
        token = await page_token(console, officer)
        async with officer.post(
            console.url("/console/requests/R-200000001/status"),
            data={"csrf_token": token, "status": "accepted", "decided_on": "2026-12-01"},
        ) as not_theirs:
            assert not_theirs.status == 403  # decisions are the researchers'
        async with officer.get(console.url("/console/requests/R-200000001")) as page:
            text = await page.text()
            assert "دورك في النظام لا يتيح لك الاطلاع على إجابات مقدم الطلب" in text
            assert "أحمد" not in text.split("إجابات مقدم الطلب", 1)[1].split("السجل", 1)[0]


def open_handoff(console: ConsoleServer, tag: str, domain: str) -> int:
    store = console.runtime.store
    contact_id, _address, conversation_id = beneficiary(store, tag)
    with store.db.sessions.begin() as session:
        handoff = Handoff(
            contact_id=contact_id,
            conversation_id=conversation_id,
            domain=domain,
            officer_email="-",
            reason="requested",
            status="open",
        )
        session.add(handoff)
        session.flush()
        return handoff.id


async def rows(client: aiohttp.ClientSession, console: ConsoleServer, chosen: str) -> list[str]:
    async with client.get(console.url(f"/console/inbox/items?filter={chosen}")) as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        data = await response.json()
    return re.findall(r'data-reference="([^"]+)"', data["html"])


async def test_inbox_filters_and_claiming(console: ConsoleServer) -> None:
    await add_user(console.runtime.store, RELATIONS, "هيفاء العمري", "officer", PASSWORD)
    ours = open_handoff(console, "f1", "beneficiary_relations")
    theirs = open_handoff(console, "f2", "social_research")
    async with console.client() as officer:
        await sign_in(console, officer, RELATIONS)
        assert await rows(officer, console, "domains") == [f"H-{ours}"]
        assert await rows(officer, console, "all") == [f"H-{ours}", f"H-{theirs}"]
        assert await rows(officer, console, "mine") == []
        token = await page_token(console, officer)
        async with officer.post(
            console.url(f"/console/handoffs/{theirs}/claim"),
            data={"csrf_token": token, "next": "https://elsewhere.example/"},
            allow_redirects=False,
        ) as claimed:
            assert claimed.headers["Location"] == "/console/"  # never off the console
        assert await rows(officer, console, "mine") == [f"H-{theirs}"]
        assert await rows(officer, console, "unassigned") == [f"H-{ours}"]
        async with officer.post(
            console.url(f"/console/handoffs/{ours}/assign"),
            data={"csrf_token": token, "staff": "stranger@example.org"},
        ) as refused:
            assert refused.status == 400
            assert "اختر زميلًا من القائمة" in await refused.text()
        async with officer.post(
            console.url(f"/console/handoffs/{ours}/assign"),
            data={"csrf_token": token, "staff": email_of("researcher")},
            allow_redirects=False,
        ) as assigned:
            assert assigned.status == 302
        assert await rows(officer, console, "unassigned") == []
    async with console.client() as researcher:
        await sign_in(console, researcher, email_of("researcher"))
        assert await rows(researcher, console, "mine") == [f"H-{ours}"]
        # Not a domain's officer: the inbox opens on everything.
        async with researcher.get(console.url("/console/")) as page:
            assert 'data-poll="/console/inbox/items?filter=all"' in await page.text()
