"""Attachments on the web chat (issue 11, item 6): the page asks for photos of documents, so it
must be able to send them. The file goes up with its own request and is stored at once; the
message that names it is recorded and handled like any other, its attachment already stored
(the same `message_media` rows the other channels' files get once the worker fetched them).
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from bot.crypto import Cipher
from bot.tables import SupportRequest
from tests.chat_client import ChatClient
from tests.conftest import LiveGateway
from tests.journeys import database, exchange, form_answers_ar, national_id, stored_attachment
from tests.test_chat_page import REPLY_TIMEOUT, bot_bubbles

# The smallest valid PNG: one transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


async def upload(
    http: aiohttp.ClientSession, gateway: LiveGateway, session: str, data: bytes, kind: str
) -> tuple[int, dict[str, str]]:
    async with http.post(
        f"{gateway.url}/chat/api/uploads",
        params={"session": session},
        data=data,
        headers={"Content-Type": kind},
    ) as response:
        return response.status, await response.json()


async def post_with(
    chat: ChatClient, attachments: list[dict[str, str]]
) -> tuple[int, dict[str, str]]:
    body = {"session": chat.session, "text": "", "client_id": "c1", "attachments": attachments}
    async with chat.http.post(f"{chat.base_url}/chat/api/messages", json=body) as response:
        return response.status, await response.json()


async def at_documents(http: aiohttp.ClientSession, gateway: LiveGateway, nid: str) -> ChatClient:
    chat = await ChatClient(http, gateway.url).start()
    await exchange(chat, "مرحبا")
    await exchange(chat, "2", replies=2)
    for answer in form_answers_ar(nid):
        await exchange(chat, answer)
    return chat


async def test_a_photo_sent_on_the_web_chat_is_stored_with_the_request(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, cipher: Cipher
) -> None:
    chat = await at_documents(http, live_gateway, national_id(12001))
    status, uploaded = await upload(http, live_gateway, chat.session, PNG, "image/png")
    assert status == 201
    attachment = {**uploaded, "filename": "هوية.png"}
    body = {"session": chat.session, "text": "هذه صورة الهوية", "client_id": "photo-1"}
    async with http.post(
        f"{live_gateway.url}/chat/api/messages", json={**body, "attachments": [attachment]}
    ) as sent:
        assert sent.status == 202
    (received,) = [reply["text"] for reply in await chat.replies(1)]
    assert received == "وصل ملف واحد. أرسل المزيد، أو اكتب «تم»."
    (summary,) = await exchange(chat, "تم")
    assert "• صور المستندات (الهوية، سجل الأسرة، ما يثبت الدخل): ملف واحد" in summary
    assert "ملاحظتك: هذه صورة الهوية" in summary  # the caption is kept, not dropped
    await exchange(chat, "1")
    await exchange(chat, "أقر", replies=2)
    with database(live_gateway.database_url) as db:
        request = db.scalars(select(SupportRequest).order_by(SupportRequest.id.desc())).first()
        assert request is not None and request.answers["national_id"] == national_id(12001)
        (kept,) = request.answers["documents"]
    assert (kept["content_type"], kept["filename"]) == ("image/png", "هوية.png")
    assert stored_attachment(live_gateway.database_url, kept).read_bytes() == PNG


async def test_uploads_refuse_what_they_should(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await ChatClient(http, live_gateway.url).start()
    other = await ChatClient(http, live_gateway.url).start()
    assert (await upload(http, live_gateway, "forged.token", PNG, "image/png"))[0] == 403
    assert (await upload(http, live_gateway, chat.session, b"MZ\x90", "application/x-msdos"))[
        0
    ] == 415
    assert (await upload(http, live_gateway, chat.session, b"", "image/png"))[0] == 400
    status, uploaded = await upload(http, live_gateway, chat.session, PNG, "image/png")
    assert status == 201
    # A token is good for its own conversation only, and for the type it was uploaded as.
    assert (await post_with(other, [uploaded]))[0] == 400
    assert (await post_with(chat, [{**uploaded, "content_type": "application/pdf"}]))[0] == 400
    forged = {"upload": "../../etc/passwd.x", "content_type": "image/png"}
    assert (await post_with(chat, [forged]))[0] == 400
    assert (await post_with(chat, [uploaded]))[0] == 202


def test_the_chat_page_has_an_attachment_button_that_sends_the_file(
    live_gateway: LiveGateway, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 780})
    context.set_default_timeout(REPLY_TIMEOUT)
    page: Page = context.new_page()
    try:
        page.goto(f"{live_gateway.url}/chat")
        button = page.get_by_role("button", name="إرفاق صورة أو ملف PDF")
        expect(button).to_be_visible()
        box = page.get_by_role("textbox")
        for text in ["مرحبا", "2", *form_answers_ar(national_id(12002))]:
            count = bot_bubbles(page).count()
            box.fill(text)
            box.press("Enter")
            expect(bot_bubbles(page)).not_to_have_count(count)
        expect(bot_bubbles(page).last).to_contain_text("السؤال 11 من 11")
        photo = tmp_path / "family-record.png"
        photo.write_bytes(PNG)
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(photo))
        expect(bot_bubbles(page).last).to_contain_text("وصل ملف واحد.")
        visitor = page.get_by_role("log").locator(".msg-visitor").last
        expect(visitor).to_contain_text("family-record.png")
        stored = json.loads(page.evaluate("localStorage.getItem('tawasul.chat')"))
        assert stored["transcript"][-1]["state"] == "sent"
    finally:
        context.close()
