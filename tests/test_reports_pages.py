"""The reports over the whole web app (no browser): every table's CSV opens for a manager
and an administrator with its byte-order mark and the charts' figures, a beneficiary's
text that a spreadsheet would run as a formula is exported as text, other roles are
refused, and a preset the picker does not offer is a clear 400."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.console.reports_pages import TABLES
from bot.effects import RecordUnanswered
from bot.models import utcnow
from tests.console_helpers import ConsoleServer, console_server, email_of, sign_in
from tests.test_reports_storage import turn

FORMULA = '=HYPERLINK("http://example.com","اضغط هنا")'


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[ConsoleServer]:
    async with console_server(tmp_path) as server:
        yield server


async def test_every_table_exports_for_managers_only(console: ConsoleServer) -> None:
    store = console.runtime.store
    await turn(
        store,
        "f1",
        FORMULA,
        utcnow() - timedelta(hours=1),
        [RecordUnanswered(FORMULA, "unknown", "ar")],
    )
    for role in ("manager", "admin"):
        async with console.client() as client:
            await sign_in(console, client, email_of(role))
            for name in TABLES:
                async with client.get(console.url(f"/console/reports/{name}.csv?days=7")) as got:
                    assert got.status == 200, name
                    assert got.headers["Content-Type"] == "text/csv; charset=utf-8"
                    raw = await got.read()
                assert raw.startswith("\ufeff".encode()), name
                rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
                if name == "unanswered":
                    assert rows[1][:2] == ["'" + FORMULA, "1"]
                if name == "messages":
                    assert rows[0] == ["اليوم", "القناة", "الواردة", "المرسلة"]
                    assert [r[1:] for r in rows[1:]] == [["المحادثة على الموقع", "1", "1"]]
            async with client.get(console.url("/console/reports?days=5")) as odd:
                assert odd.status == 400
                assert "السنة-الشهر-اليوم" in await odd.text()
            async with client.get(console.url("/console/reports/x.csv")) as unknown:
                assert unknown.status in (403, 404)
    for role in ("officer", "researcher", "quality"):
        async with console.client() as client:
            await sign_in(console, client, email_of(role))
            async with client.get(console.url("/console/reports/messages.csv")) as refused:
                assert refused.status == 403
