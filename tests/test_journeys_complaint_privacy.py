"""Complaints, privacy and the updates question, end to end: a live `tawasul serve` + `tawasul
worker` driven through the web chat API in Arabic and in English (and `tawasul chat` once), with
the stored complaints, staff tasks and consent records checked afterwards.

Sentences this journey added are compared with the catalog's translation computed here, so the
assertions hold before and after the Arabic catalog is filled in.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from bot.app.router import Router
from bot.crypto import Cipher
from bot.db import Database
from bot.i18n import Translator, translator
from bot.models import AddressKind, InboundMessage, Media
from bot.profile import Profile
from bot.storage import Store
from bot.storage.references import check_digit
from bot.tables import Complaint, ConsentRecord, ContactAddress, StaffTask
from bot.work_calendar import complaint_response_due
from handlers import complaint, consent, privacy, privacy_options
from handlers.choices import BACK_WORDS, CANCEL_WORDS, SKIP_WORDS
from handlers.wiring import build_dispatcher
from tests.chat_client import ChatClient
from tests.conftest import REDIS_URL, LiveGateway
from tests.test_terminal_chat import run_chat
from worker.queues import QueueOutbox, make_queue

ar, en = translator("ar"), translator("en")
COMPLAINT_REFERENCE = re.compile(r"\bC-\d{9}\b")
TASK_REFERENCE = re.compile(r"\bT-\d{9}\b")
MENU_SIZE = 8  # seven services and the other language
HIJRI_AND_GREGORIAN_AR = re.compile(r"\d+ \S+( \S+)? 14\d\d هـ \(\d+ \S+ 20\d\d م\)")


@pytest.fixture
async def chat(http: aiohttp.ClientSession, live_gateway: LiveGateway) -> ChatClient:
    return await ChatClient(http, live_gateway.url).start()


@pytest.fixture
def database(live_gateway: LiveGateway, cipher: Cipher) -> Iterator[Database]:
    database = Database(live_gateway.database_url)
    yield database
    database.close()


def word(msgid: str, t: Translator) -> str:
    """The first of a comma-separated word list, as a beneficiary in that language types it."""
    return re.split("[,\u060c]", t.gettext(msgid))[0].strip()


def titles(reply: dict) -> list[str]:
    return [button["title"] for button in reply["buttons"]]


def button_ids(reply: dict) -> list[str]:
    return [button["id"] for button in reply["buttons"]]


def contact_of(database: Database, cipher: Cipher, chat: ChatClient) -> int:
    session_id = chat.session.split(".")[0]
    with database.sessions() as db:
        contact_id = db.scalar(
            select(ContactAddress.contact_id).where(
                ContactAddress.address_hash == cipher.lookup_hash(session_id)
            )
        )
    assert contact_id is not None
    return contact_id


def complaint_row(database: Database, reference: str) -> Complaint:
    with database.sessions() as db:
        row = db.scalar(select(Complaint).where(Complaint.reference == reference))
    assert row is not None
    return row


def consents(database: Database, contact_id: int) -> list[tuple[str, bool, str, str, str]]:
    with database.sessions() as db:
        rows = db.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.contact_id == contact_id)
            .order_by(ConsentRecord.id)
        ).all()
    return [(r.purpose, r.granted, r.channel, r.source, r.wording_version) for r in rows]


def sla_sentence(t: Translator, profile: Profile, row: Complaint) -> str:
    """What the reply must promise, computed from the stored respond-by time."""
    if row.urgent:
        by = t.format_datetime(row.respond_by, profile.timezone)
        return complaint.within_hours(t, profile.sla.urgent_complaint_hours, by)
    by = t.format_date(row.respond_by.astimezone(profile.tz).date())
    return complaint.within_days(t, profile.sla.complaint_response_days, by)


async def test_complaint_in_arabic_then_the_updates_question_once(
    chat: ChatClient, database: Database, cipher: Cipher, profile: Profile
) -> None:
    await chat.say("مرحبا")
    categories = await chat.say("٤")  # the menu's fourth line, in Arabic-Indic digits
    assert ar.gettext(complaint.HINT) in categories["text"]
    assert ar.gettext(complaint.CHOOSE_CATEGORY) in categories["text"]
    assert titles(categories) == [c.label.ar for c in profile.complaint_categories]
    assert titles(categories)[1] == "تأخر المساعدة"

    describe = await chat.say("٢")
    assert describe["text"] == ar.gettext(complaint.DESCRIBE).format(category="تأخر المساعدة")

    too_short = await chat.say("تأخرت")
    assert too_short["text"] == ar.gettext(complaint.TOO_SHORT).format(
        length=complaint.characters(ar, 10)
    )
    attach = await chat.say("تأخرت السلة الغذائية عن موعدها أسبوعين")
    assert attach["text"] == ar.gettext(complaint.ATTACH)
    assert button_ids(attach) == ["skip"]
    again = await chat.say("لحظة")
    assert again["text"].startswith(ar.gettext(complaint.ATTACH_AGAIN))

    # Skipping files the complaint; the updates question follows, once.
    assert (await chat.post(word(SKIP_WORDS, ar))).status == 202
    filed, question = await chat.replies(2)
    (reference,) = COMPLAINT_REFERENCE.findall(filed["text"])
    row = complaint_row(database, reference)
    assert filed["text"] == ar.gettext(complaint.FILED).format(
        reference=reference, when=sla_sentence(ar, profile, row)
    )
    assert HIJRI_AND_GREGORIAN_AR.search(filed["text"]), filed["text"]
    assert question["text"] == profile.consent.updates_question.ar
    assert button_ids(question) == ["yes", "no"]

    contact_id = contact_of(database, cipher, chat)
    assert (row.contact_id, row.category, row.urgent, row.channel, row.status) == (
        contact_id,
        "aid_delay",
        False,
        "webchat",
        "open",
    )
    assert row.description == "تأخرت السلة الغذائية عن موعدها أسبوعين"
    assert row.attachments is None
    # Five working days (the profile's week and holidays), at the close of the fifth.
    assert row.respond_by == complaint_response_due(profile, "aid_delay", row.created_at)
    assert consents(database, contact_id) == []

    # "1" answers the question (its first button): a consent record, then the menu.
    subscribed = await chat.say("١")
    name = profile.name.ar
    assert subscribed["text"].startswith(ar.gettext(consent.SUBSCRIBED).format(name=name))
    assert len(subscribed["buttons"]) == MENU_SIZE
    assert consents(database, contact_id) == [("updates", True, "webchat", "question", "2026-12")]

    # A second complaint in the same conversation: no second question, the menu instead.
    await chat.say("٤")
    await chat.say("٥")
    await chat.say("أقترح توفير موعد مسائي لاستلام السلال")
    second = await chat.say(word(SKIP_WORDS, ar))
    assert COMPLAINT_REFERENCE.search(second["text"])
    assert len(second["buttons"]) == MENU_SIZE
    await chat.quiet()
    assert len(consents(database, contact_id)) == 1


async def test_privacy_violation_in_english_is_urgent(
    chat: ChatClient, database: Database, cipher: Cipher, profile: Profile
) -> None:
    await chat.say("hello")
    options = await chat.say("Privacy and my data", button_id="menu:privacy")
    assert options["text"].startswith(en.gettext(privacy_options.PROMISE))
    assert titles(options) == [
        "Privacy notice",
        "Data you hold on me",
        "Delete my data",
        "Report a violation",
    ]

    report = await chat.say("4")
    assert "“Privacy violation”" in report["text"]
    assert en.gettext(complaint.URGENT_NOTE) in report["text"]
    # "back" from the first question returns to the privacy options; a typed word chooses.
    assert titles(await chat.say("back")) == titles(options)
    report = await chat.say("report a violation")
    assert "“Privacy violation”" in report["text"]

    await chat.say("A volunteer showed my ID card to my neighbours")
    assert (await chat.post("Skip", button_id="skip")).status == 202
    filed, question = await chat.replies(2)
    (reference,) = COMPLAINT_REFERENCE.findall(filed["text"])
    row = complaint_row(database, reference)
    assert filed["text"] == en.gettext(complaint.FILED_URGENT).format(
        reference=reference, when=sla_sentence(en, profile, row)
    )
    assert "as urgent" in filed["text"] and "within 24 hours, by " in filed["text"]
    assert " AH (" in filed["text"]  # Hijri beside Gregorian
    assert question["text"] == profile.consent.updates_question.en

    contact_id = contact_of(database, cipher, chat)
    assert (row.contact_id, row.category, row.urgent, row.channel) == (
        contact_id,
        "privacy_violation",
        True,
        "webchat",
    )
    assert row.respond_by - row.created_at == timedelta(hours=24)

    declined = await chat.say("no")
    assert declined["text"].startswith(en.gettext(consent.DECLINED).format(name=profile.name.en))
    assert consents(database, contact_id) == [("updates", False, "webchat", "question", "2026-12")]


async def test_cancel_and_back_in_arabic(
    chat: ChatClient, database: Database, cipher: Cipher, profile: Profile
) -> None:
    back, cancel = word(BACK_WORDS, ar), word(CANCEL_WORDS, ar)
    await chat.say("مرحبا")
    categories = await chat.say("شكوى")  # the menu answers to a typed word too
    assert titles(categories) == [c.label.ar for c in profile.complaint_categories]
    home = await chat.say(back)  # back from the first question: the main menu
    assert len(home["buttons"]) == MENU_SIZE

    await chat.say("٤")
    describe = await chat.say("تعامل أحد الموظفين")  # a category typed as its title
    assert describe["text"] == ar.gettext(complaint.DESCRIBE).format(category="تعامل أحد الموظفين")
    too_short = await chat.say("٩")  # a number here is a (too short) description, not a choice
    assert too_short["text"] == ar.gettext(complaint.TOO_SHORT).format(
        length=complaint.characters(ar, 10)
    )
    assert (await chat.say(back))["text"].endswith(ar.gettext(complaint.CHOOSE_CATEGORY))
    assert (await chat.say("١"))["text"] == ar.gettext(complaint.DESCRIBE).format(
        category="جودة الخدمة"
    )
    await chat.say("انتظرت ثلاث ساعات في الفرع دون أن يخدمني أحد")
    redo = await chat.say(back)  # back from the attachments: the description again
    assert redo["text"] == ar.gettext(complaint.DESCRIBE).format(category="جودة الخدمة")

    cancelled = await chat.say(cancel)
    assert cancelled["text"].startswith(ar.gettext(complaint.CANCELLED))
    assert len(cancelled["buttons"]) == MENU_SIZE
    contact_id = contact_of(database, cipher, chat)
    with database.sessions() as db:
        filed = db.scalars(select(Complaint).where(Complaint.contact_id == contact_id)).all()
    assert filed == []


async def test_privacy_summary_and_deletion_in_arabic(
    chat: ChatClient, database: Database, cipher: Cipher, profile: Profile
) -> None:
    await chat.say("مرحبا")
    await chat.say("٤")
    await chat.say("١")
    await chat.say("الموظف لم يرد على اتصالاتي منذ أسبوع")
    await chat.post(word(SKIP_WORDS, ar))
    filed, _question = await chat.replies(2)
    (reference,) = COMPLAINT_REFERENCE.findall(filed["text"])

    # Not answering the updates question: the menu takes the message, nothing is recorded.
    options = await chat.say("٧")
    assert options["text"].startswith(ar.gettext(privacy_options.PROMISE))
    assert titles(options)[1] == ar.gettext("Data you hold on me")
    summary = await chat.say("٢")
    text = summary["text"]
    assert text.startswith(ar.gettext(privacy.SUMMARY_HEADING))
    assert (
        ar.gettext("Complaint {reference}: {details}").format(
            reference=reference, details=ar.gettext("your description")
        )
        in text
    )
    assert (
        ar.gettext("Support requests: {references}").format(references=ar.gettext("none")) in text
    )
    assert (
        ar.gettext("Updates: {updates}").format(updates=ar.gettext("you have not told us yet"))
        in text
    )
    assert (
        ar.gettext("Channels you wrote to us on: {channels}").format(
            channels=ar.gettext("Web chat")
        )
        in text
    )
    assert ar.gettext("Language: {language}").format(language="العربية") in text
    assert HIJRI_AND_GREGORIAN_AR.search(text)
    assert len(summary["buttons"]) == MENU_SIZE

    notice = await chat.say("الخصوصية")  # the menu's word, then the option's number
    assert titles(notice) == titles(options)
    notice = await chat.say("١")
    assert profile.privacy_notice_url in notice["text"]

    # Deletion: "no" deletes nothing; "yes" opens a staff task with an honest note.
    await chat.say("٧")
    confirm = await chat.say("٣")
    assert confirm["text"] == ar.gettext(privacy.CONFIRM_DELETION)
    assert button_ids(confirm) == ["yes", "no"]
    assert (await chat.say("٢"))["text"].startswith(ar.gettext(privacy.NOTHING_DELETED))
    await chat.say("٧")
    await chat.say("٣")
    unsure = await chat.say("ربما")
    assert unsure["text"].startswith(ar.gettext(consent.ANSWER_YES_NO))
    done = await chat.say("نعم", button_id="yes")
    (task_reference,) = TASK_REFERENCE.findall(done["text"])
    assert done["text"].startswith(
        ar.gettext(privacy.DELETION_RECORDED).format(reference=task_reference)
    )

    contact_id = contact_of(database, cipher, chat)
    with database.sessions() as db:
        tasks = db.scalars(select(StaffTask).where(StaffTask.contact_id == contact_id)).all()
    assert [(t.reference, t.kind, t.status, t.details) for t in tasks] == [
        (task_reference, "data_deletion", "open", {"channel": "webchat"})
    ]
    assert consents(database, contact_id) == []

    # "My data" now lists the deletion request too.
    await chat.say("٧")
    summary = await chat.say("٢")
    assert (
        "• "
        + ar.gettext("Request to our staff {reference}: {kind}").format(
            reference=task_reference, kind=ar.gettext("deleting your data")
        )
        in summary["text"]
    )


async def test_updates_subscription_from_the_menu_in_english(
    chat: ChatClient, database: Database, cipher: Cipher, profile: Profile
) -> None:
    name = profile.name.en
    await chat.say("hello")
    ask = await chat.say("6")
    assert ask["text"] == (
        f"You have not subscribed to updates from {name} yet.\n\n"
        + profile.consent.updates_question.en
    )
    assert titles(ask) == ["Yes", "No"]
    again = await chat.say("maybe later")
    assert again["text"].startswith(en.gettext(consent.ANSWER_YES_NO))
    yes = await chat.say("yes")
    assert yes["text"].startswith(en.gettext(consent.SUBSCRIBED).format(name=name))
    ask = await chat.say("updates")
    assert ask["text"].startswith(f"You currently receive updates from {name}.")
    no = await chat.say("No", button_id="no")
    assert no["text"].startswith(en.gettext(consent.DECLINED).format(name=name))
    ask = await chat.say("6")
    assert ask["text"].startswith(f"You do not currently receive updates from {name}.")
    unchanged = await chat.say("cancel")
    assert unchanged["text"].startswith(en.gettext(consent.NOTHING_CHANGED))

    contact_id = contact_of(database, cipher, chat)
    assert consents(database, contact_id) == [
        ("updates", True, "webchat", "question", "2026-12"),
        ("updates", False, "webchat", "question", "2026-12"),
    ]


def test_terminal_complaint_in_arabic(tmp_path: Path, cipher: Cipher, profile: Profile) -> None:
    lines = "مرحبا\n٤\n٣\nسيء\nالموظف رفع صوته علي أمام الحاضرين\n١\n٢\n"
    result = run_chat(tmp_path, lines, "--as", "complainer-1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. جودة الخدمة\n2. تأخر المساعدة\n3. تعامل أحد الموظفين\n" in out
    assert ar.gettext(complaint.TOO_SHORT).format(length=complaint.characters(ar, 10)) in out
    assert f"{ar.gettext(complaint.ATTACH)}\n\n1. {ar.gettext('Skip')}" in out
    (reference,) = COMPLAINT_REFERENCE.findall(out)
    assert reference[-1] == check_digit(reference[2:-1])
    database = Database(f"sqlite:///{tmp_path / 'var' / 'tawasul.db'}")
    try:
        row = complaint_row(database, reference)
        assert (row.category, row.urgent, row.channel) == ("staff_conduct", False, "terminal")
        assert (
            ar.gettext(complaint.FILED).format(
                reference=reference, when=sla_sentence(ar, profile, row)
            )
            in out
        )
        assert f"{profile.consent.updates_question.ar}\n\n1. {ar.gettext('Yes')}" in out
        assert ar.gettext(consent.DECLINED).format(name=profile.name.ar) in out
        assert consents(database, row.contact_id) == [
            ("updates", False, "terminal", "question", "2026-12")
        ]
    finally:
        database.close()


# -- in-process, on both databases: what the web chat cannot send yet ---------------------------
@pytest.fixture
async def router(store: Store, profile: Profile) -> AsyncIterator[Router]:
    redis = Redis.from_url(REDIS_URL)
    outbox = QueueOutbox(make_queue(REDIS_URL, f"journeys-{uuid.uuid4().hex[:8]}"), redis)
    yield Router(store, redis, outbox, build_dispatcher(profile), profile)
    await redis.aclose()


class Conversation:
    """One beneficiary talking to the router directly, on WhatsApp (which carries media)."""

    def __init__(self, router: Router, store: Store) -> None:
        self.router, self.store = router, store
        self.address = f"+9665{uuid.uuid4().int % 10**8:08d}"

    async def send(self, text: str = "", media: tuple[Media, ...] = ()) -> list[str]:
        outcome = await self.router.handle(
            InboundMessage(
                channel="whatsapp",
                address_kind=AddressKind.WHATSAPP,
                address=self.address,
                provider_id=uuid.uuid4().hex,
                text=text,
                media=media,
            )
        )
        texts = []
        for reply_id in outcome.reply_ids:
            delivery = await self.store.deliveries.delivery(reply_id)
            assert delivery is not None
            texts.append(delivery.message.text)
        return texts

    async def contact_id(self) -> int:
        contact_id: int = await self.store.db.run(self._contact_id)
        return contact_id

    def _contact_id(self) -> int:
        with self.store.db.sessions() as db:
            contact_id = db.scalar(
                select(ContactAddress.contact_id).where(
                    ContactAddress.address_hash == self.store.cipher.lookup_hash(self.address)
                )
            )
        assert contact_id is not None
        return int(contact_id)


PHOTO = Media("image/jpeg", "https://media.example/1.jpg", "receipt.jpg")
PDF = Media("application/pdf", "https://media.example/2.pdf", "letter.pdf")


async def test_attachments_are_collected_and_filed(router: Router, store: Store) -> None:
    talk = Conversation(router, store)
    await talk.send("hello")
    await talk.send("4")
    await talk.send("2")
    # A photo without words at the description step is kept, and the words are asked for.
    (reply,) = await talk.send(media=(PHOTO,))
    assert reply == en.gettext(complaint.MEDIA_WITHOUT_TEXT).format(
        length=complaint.characters(en, 10)
    )
    (reply,) = await talk.send("The March food basket never arrived")
    assert reply == complaint.attachments_received(en, 1)
    (reply,) = await talk.send(media=(PDF, PHOTO))
    assert reply == complaint.attachments_received(en, 3)
    (reply,) = await talk.send("what now?")
    assert reply.startswith(en.gettext(complaint.ATTACH_AGAIN))
    filed, _question = await talk.send("done")
    (reference,) = COMPLAINT_REFERENCE.findall(filed)
    contact_id = await talk.contact_id()
    row = await store.db.run(complaint_row, store.db, reference)
    assert (row.contact_id, row.category, row.channel) == (contact_id, "aid_delay", "whatsapp")
    assert [a["filename"] for a in row.attachments] == ["receipt.jpg", "letter.pdf", "receipt.jpg"]
    # Each keeps its message and position there, by which the fetched file is found later.
    message_id = row.attachments[1]["message_id"]
    assert row.attachments[1] == {
        "content_type": "application/pdf",
        "url": "https://media.example/2.pdf",
        "filename": "letter.pdf",
        "stored_path": None,
        "message_id": message_id,
        "media_index": 0,
    }
    assert isinstance(message_id, int) and message_id != row.attachments[0]["message_id"]
    assert (row.attachments[2]["message_id"], row.attachments[2]["media_index"]) == (message_id, 1)


async def test_the_updates_question_does_not_outlive_stop_or_a_language_switch(
    router: Router, store: Store, profile: Profile
) -> None:
    # STOP after the question: a later "1" is not a yes.
    talk = Conversation(router, store)
    await talk.send("hello")
    await talk.send("4")
    await talk.send("1")
    await talk.send("Nobody answered the phone for a week")
    _filed, question = await talk.send("skip")
    assert question == profile.consent.updates_question.en
    await talk.send("STOP")
    await talk.send("1")
    rows = await store.db.run(consents, store.db, await talk.contact_id())
    assert rows == [("updates", False, "whatsapp", "keyword", "2026-12")]

    # A language switch after the question shows the menu: "1" then means its first line.
    talk = Conversation(router, store)
    await talk.send("hello")
    await talk.send("4")
    await talk.send("1")
    await talk.send("Nobody answered the phone for a week")
    await talk.send("skip")
    await talk.send("arabic")
    (reply,) = await talk.send("1")
    assert reply != ar.gettext(consent.SUBSCRIBED).format(name=profile.name.ar)
    assert await store.db.run(consents, store.db, await talk.contact_id()) == []
