"""The unanswered-questions page over the whole web app: bad input gets a clear 400 in the
staff member's language and changes nothing, an unknown question is 404, the period accepts
Arabic-Indic digits, and the page reads in English for English-speaking staff."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.app.web import ROUTER
from bot.models import AddressKind, InboundMessage
from tests.console_helpers import ConsoleServer, console_server, email_of, page_token, sign_in

QUESTION = "هل توزعون ملابس العيد؟"


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as console:
        router = console.app[ROUTER]
        for text in ("مرحبا", QUESTION):
            await router.handle(
                InboundMessage(
                    channel="webchat",
                    address_kind=AddressKind.WEBCHAT,
                    address="family",
                    provider_id=uuid.uuid4().hex,
                    text=text,
                )
            )
        yield console


async def _officer(console: ConsoleServer) -> tuple[aiohttp.ClientSession, str]:
    client = console.client()
    assert (await sign_in(console, client, email_of("officer"))).status == 302
    return client, await page_token(console, client)


async def test_bad_input_is_refused_clearly_and_changes_nothing(console: ConsoleServer) -> None:
    client, token = await _officer(console)
    (group,) = await console.runtime.store.unanswered.questions()
    base = console.url(f"/console/questions/{group.key}")
    async with client:
        cases = [
            ("attach", {"entry": "services-list", "phrasing": " "}, "فضلًا اكتب الصيغة"),
            ("attach", {"entry": "no-such-entry", "phrasing": QUESTION}, "فضلًا اختر السؤال"),
            ("entry", {"topic": "nowhere"}, "فضلًا اختر موضوع"),
            (
                "entry",
                {"topic": "services", "question_ar": "س", "question_en": "q", "answer_ar": "ج"},
                "باللغتين",
            ),
        ]
        for action, form, message in cases:
            async with client.post(f"{base}/{action}", data={**form, "csrf_token": token}) as r:
                assert r.status == 400, action
                assert message in await r.text()
        for key in ("0" * 64, "not-a-key"):
            url = console.url(f"/console/questions/{key}/dismiss")
            async with client.post(url, data={"csrf_token": token}) as response:
                assert response.status == 404
    assert await console.runtime.store.faq_additions.all() == []
    assert [g.key for g in await console.runtime.store.unanswered.questions()] == [group.key]


async def test_the_period_takes_arabic_digits_and_the_page_reads_in_english(
    console: ConsoleServer,
) -> None:
    client, _token = await _officer(console)
    async with client:
        async with client.get(console.url("/console/questions?days=٧")) as response:
            page = await response.text()
            assert response.status == 200
            assert '<option value="7" selected>' in page and "ملابس العيد" in page
        async with client.post(
            console.url("/console/language"), data={"language": "en", "csrf_token": _token}
        ) as response:
            assert response.status in (200, 302)
        async with client.get(console.url("/console/questions")) as response:
            page = await response.text()
            assert "Unanswered questions" in page and "Times asked" in page
            assert "Attach to an FAQ entry" in page and "Not an FAQ" in page
