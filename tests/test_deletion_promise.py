"""The deletion promise kept, against a live `tawasul serve` and `tawasul worker`: a beneficiary
asks on the web chat to delete their data (the bot says staff will tell them here when it is
done), an officer erases the contact in the console (Chromium), and the beneficiary's web chat
receives the notice in Arabic although the erase wiped the address it went to; the deletion
task is closed with who and when, and the contact's personal fields are gone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import select

from bot.console.contacts_pages import DELETION_DONE
from bot.crypto import Cipher
from bot.i18n import translator
from bot.tables import AuditEntry, Contact, ContactAddress, Conversation, Message, StaffTask
from handlers import privacy
from tests.conftest import LiveGateway, launch_gateway
from tests.journeys import database
from tests.staff import add_staff
from tests.test_console_work import OFFICER, TIMEOUT, Chat, sign_in

AR = translator("ar")
TASK_REFERENCE = re.compile(r"T-\d+")
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with launch_gateway(tmp_path_factory.mktemp("deletion-promise")) as live:
        add_staff(live, OFFICER, "هيفاء العمري", "officer")
        yield live


def test_erasing_a_contact_tells_the_beneficiary_and_closes_the_task(
    gateway: LiveGateway, desk: BrowserContext, cipher: Cipher
) -> None:
    chat = Chat(gateway.url).start()
    chat.say("مرحبا")
    chat.say("٧")  # privacy and my data
    (confirm,) = chat.say("٣")  # delete my data
    assert confirm == AR.gettext(privacy.CONFIRM_DELETION)
    (recorded,) = chat.say("نعم")
    (reference,) = TASK_REFERENCE.findall(recorded)
    assert recorded.startswith(AR.gettext(privacy.DELETION_RECORDED).format(reference=reference))
    with database(gateway.database_url) as db:
        task = db.scalar(select(StaffTask).where(StaffTask.reference == reference))
        assert task is not None and task.status == "open"
        contact_id = task.contact_id

    officer = sign_in(desk, gateway, OFFICER)
    officer.goto(f"{gateway.url}/console/contacts/{contact_id}")
    officer.locator("#confirm").fill("ERASE")
    before = datetime.now().astimezone()
    officer.get_by_role("button", name="حذف البيانات الشخصية").click()
    expect(officer.locator("h1")).to_contain_text(f"المستفيد {contact_id}")

    (told,) = chat.replies(1)
    assert told == AR.gettext(DELETION_DONE)
    assert told.startswith("تم حذف بياناتك الشخصية كما طلبت")

    with database(gateway.database_url) as db:
        task = db.scalar(select(StaffTask).where(StaffTask.reference == reference))
        assert task is not None and task.status == "closed"
        assert task.details["closed_by"] == OFFICER
        assert datetime.fromisoformat(task.details["closed_at"]) >= before.replace(microsecond=0)
        audited = db.scalars(select(AuditEntry.action).where(AuditEntry.actor == OFFICER)).all()
        assert "task.closed" in audited and "contact.erased" in audited
        contact = db.get(Contact, contact_id)
        assert contact is not None
        assert (contact.display_name, contact.national_id) == (None, None)
        addresses = db.scalars(
            select(ContactAddress.address).where(ContactAddress.contact_id == contact_id)
        ).all()
        assert addresses and set(addresses) == {"—"}
        conversation = db.scalar(
            select(Conversation.id).where(Conversation.contact_id == contact_id)
        )
        messages = db.scalars(select(Message).where(Message.conversation_id == conversation)).all()
        assert {m.body for m in messages} == {None}
        last = max((m for m in messages if m.direction == "out"), key=lambda m: m.id)
        assert last.status == "sent"  # the notice left before its address was wiped
