"""Journeys without dead ends (issue 11): what a new beneficiary ran into, through the web chat
API and the terminal (whose numbered lists are what SMS and email show), in Arabic and English.

Each test is a conversation that went wrong before: a hand-off nobody asked for that silenced
the bot, wishes said in words answered with FAQ text, typed option titles and numbers ignored,
names and dates refused or accepted wrongly, and a documents step that looped.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from bot.crypto import Cipher
from bot.i18n import translator
from bot.profile_loader import load_profile
from bot.tables import Handoff, SupportRequest
from bot.work_calendar import handoff_response_due
from handlers.privacy_options import OPTIONS as PRIVACY_OPTIONS
from tests.chat_client import ChatClient
from tests.conftest import PROFILE, REDIS_URL, LiveGateway
from tests.journeys import database, exchange, form_answers_ar, national_id
from tests.test_terminal_chat import run_chat

PROFILE_DATA = load_profile(PROFILE)
AR = translator("ar")
OFFER_AR = "أعتذر لأني لم أتمكن من مساعدتك في هذا. إن رغبت، يجيبك أحد موظفينا"
WAY_BACK_AR = "وللعودة إلى الخدمة الآلية في أي وقت اكتب «القائمة»"
BACK_WITH_THE_BOT_AR = "أنت الآن مع الخدمة الآلية. تبقى محادثتك مفتوحة لدى فريقنا"
STATUS_PROMPT_AR = "يُرجى كتابة الرقم المرجعي للطلب"
FORM_INTRO_AR = "لنعبّئ طلب الدعم معًا"
CHOOSE_OPTION_AR = "يُرجى اختيار أحد الخيارات التالية:"


def handoffs(gateway: LiveGateway) -> list[tuple[int, str]]:
    with database(gateway.database_url) as db:
        return [(h.id, h.status) for h in db.scalars(select(Handoff).order_by(Handoff.id))]


def titles(chat: ChatClient) -> list[str]:
    return [button["title"] for button in chat.transcript[-1]["buttons"]]


async def new_chat(http: aiohttp.ClientSession, gateway: LiveGateway, first: str) -> ChatClient:
    chat = await ChatClient(http, gateway.url).start()
    await exchange(chat, first)
    return chat


async def until_documents(chat: ChatClient, nid: str) -> None:
    """Start the form and answer every question but the documents one."""
    await exchange(chat, "2", replies=2)
    for answer in form_answers_ar(nid):
        await exchange(chat, answer)


# -- 1. never silenced --------------------------------------------------------------------------
async def test_two_misunderstandings_offer_a_person_and_the_menu_without_handing_off(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    before = handoffs(live_gateway)
    (menu,) = await exchange(chat, "إلغاء")  # nothing to cancel at the menu: no miss
    assert menu.startswith("القائمة الرئيسية.")
    (sorry,) = await exchange(chat, "كم سعر الذهب اليوم")
    assert sorry.startswith("عذرًا، لم أفهم رسالتك.")
    (offer,) = await exchange(chat, "اسعار السيارات المستعملة")
    assert offer.startswith(OFFER_AR)
    assert "التحدث مع موظف" in titles(chat) and "حالة الطلب" in titles(chat)
    assert handoffs(live_gateway) == before  # offered, not handed off
    # The bot still answers: the beneficiary goes on with it.
    (status,) = await exchange(chat, "3")
    assert status.startswith(STATUS_PROMPT_AR)


async def test_a_menu_word_brings_the_beneficiary_back_from_a_hand_off_left_open(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    (handed,) = await exchange(chat, "5")
    assert WAY_BACK_AR in handed  # told how to come back when the hand-off starts
    (handoff_id, status) = handoffs(live_gateway)[-1]
    assert status == "open"
    await chat.post("3")  # for staff: the bot stays quiet
    await chat.quiet()
    (stopped,) = await exchange(chat, "إيقاف")  # opt-out words keep working
    assert stopped.startswith("تم: لن تصلك رسائل التحديثات")
    (back,) = await exchange(chat, "القائمة")
    assert back.startswith(BACK_WITH_THE_BOT_AR)
    assert len(chat.transcript[-1]["buttons"]) == 8
    (status_prompt,) = await exchange(chat, "3")
    assert status_prompt.startswith(STATUS_PROMPT_AR)
    assert (handoff_id, "open") in handoffs(live_gateway)  # still open for staff


async def test_cancel_leaves_a_hand_off_in_english(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    (handed,) = await exchange(chat, "Talk to staff")
    assert handed.endswith(
        "To come back to the automatic service at any time, write “menu”; your conversation "
        "stays open for our officer."
    )
    (back,) = await exchange(chat, "cancel")
    assert back.startswith("You are back with the automatic service.")


def reminder_registry(gateway: LiveGateway) -> ScheduledJobRegistry:
    connection = redis.Redis.from_url(REDIS_URL)
    queue = Queue(gateway.env["TAWASUL_QUEUE"], connection=connection, serializer=JSONSerializer)
    return ScheduledJobRegistry(queue=queue)


def reminder_jobs(gateway: LiveGateway) -> set[str]:
    return {j for j in reminder_registry(gateway).get_job_ids() if "-handoff-" in j}


def run_now(gateway: LiveGateway, job_id: str) -> Job:
    """Move time for one scheduled job: due now, so the worker's scheduler runs it."""
    registry = reminder_registry(gateway)
    job = Job.fetch(job_id, connection=registry.connection, serializer=JSONSerializer)
    registry.schedule(job, datetime.now(UTC))
    return job


async def finished(job: Job, within: float = 20.0) -> str:
    deadline = time.monotonic() + within
    while job.get_status(refresh=True) != "finished":
        assert time.monotonic() < deadline, f"{job.id} is {job.get_status()}"
        await asyncio.sleep(0.05)
    return str(job.return_value())


async def hand_off_new_chat(
    http: aiohttp.ClientSession, gateway: LiveGateway
) -> tuple[ChatClient, str]:
    """A new beneficiary asks for staff; returns the chat and its reminder's job id."""
    chat = await new_chat(http, gateway, "مرحبا")
    before = reminder_jobs(gateway)
    await exchange(chat, "5")
    (job_id,) = reminder_jobs(gateway) - before
    return chat, job_id


async def test_an_unanswered_hand_off_tells_the_beneficiary_what_happens_next(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat, job_id = await hand_off_new_chat(http, live_gateway)
    with database(live_gateway.database_url) as db:
        handoff = db.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None
        opened_at = handoff.opened_at
    due = reminder_registry(live_gateway).get_scheduled_time(job_id)
    # The response time counted in working hours: a hand-off late in the day, or after
    # hours, is due the next working day (the calendar's own rules: tests/test_work_calendar.py).
    expected = handoff_response_due(PROFILE_DATA, opened_at)
    assert abs(due.timestamp() - expected.timestamp()) < 2
    await chat.post("هل من أحد؟")  # for staff: still quiet
    await chat.quiet()
    run_now(live_gateway, job_id)
    (reminder,) = [reply["text"] for reply in await chat.replies(1, within=20)]
    assert reminder.startswith("نعتذر عن الانتظار: لم يتمكن المسؤول من الرد عليك بعد.")
    assert PROFILE_DATA.contact.phone in reminder and "«القائمة»" in reminder


async def test_no_reminder_once_staff_closed_it_or_the_beneficiary_came_back(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    closed, closed_job = await hand_off_new_chat(http, live_gateway)
    with database(live_gateway.database_url) as db:
        db.execute(update(Handoff).where(Handoff.status == "open").values(status="closed"))
        db.commit()
    came_back, came_back_job = await hand_off_new_chat(http, live_gateway)
    await exchange(came_back, "القائمة")
    for job_id in (closed_job, came_back_job):
        result = await finished(run_now(live_gateway, job_id))
        assert result.startswith("answered, closed or left meanwhile")
    await closed.quiet()
    await came_back.quiet()


# -- 3. wishes in words -------------------------------------------------------------------------
async def test_wishes_said_in_words_start_their_journeys_in_arabic(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await ChatClient(http, live_gateway.url).start()
    # As the very first message: a welcome, then the form itself.
    welcome, intro, first = await exchange(chat, "ابي اقدم طلب مساعده", replies=3)
    assert welcome == "أهلًا بك في جمعية البر الخيرية النموذجية!"
    assert intro.startswith(FORM_INTRO_AR) and first.startswith("السؤال 1 من 11")
    await exchange(chat, "القائمة")
    (category,) = await exchange(chat, "ابغى اشتكي")
    assert "بمَ تتعلق شكواك أو اقتراحك؟" in category
    await exchange(chat, "القائمة")
    (status,) = await exchange(chat, "وين طلبي")
    assert status.startswith(STATUS_PROMPT_AR)
    await exchange(chat, "القائمة")
    (privacy,) = await exchange(chat, "وش عندكم عني من بيانات")
    assert titles(chat) == [AR.gettext(title) for title in (t for _, t, _ in PRIVACY_OPTIONS)], (
        privacy
    )
    await exchange(chat, "القائمة")
    # Inside Questions and answers too.
    await exchange(chat, "1")
    (category,) = await exchange(chat, "ابي اشتكي على تأخر الرد")
    assert "بمَ تتعلق شكواك أو اقتراحك؟" in category
    await exchange(chat, "القائمة")
    # A question about applying is still a question for the FAQ.
    (answer,) = await exchange(chat, "ما هي الشروط المطلوبة لتقديم طلب دعم")
    assert not answer.startswith(FORM_INTRO_AR)
    before = handoffs(live_gateway)
    (handed,) = await exchange(chat, "ابي اكلم موظف")
    assert WAY_BACK_AR in handed and len(handoffs(live_gateway)) == len(before) + 1


async def test_wishes_said_in_words_start_their_journeys_in_english(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    intro, first = await exchange(chat, "I want to apply for help", replies=2)
    assert first.startswith("Question 1 of 11")
    assert intro.startswith("Let us fill in the support request together")
    await exchange(chat, "menu")
    (status,) = await exchange(chat, "where is my request?")
    assert status.startswith("Please write the reference number of the request")
    await exchange(chat, "menu")
    (category,) = await exchange(chat, "I want to complain")
    assert "What is your complaint or suggestion about?" in category


# -- 4. typed choices ---------------------------------------------------------------------------
async def test_typed_titles_and_numbers_choose_in_the_summary_and_the_attestation(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await until_documents(chat, national_id(13001))
    (summary,) = await exchange(chat, "تخطي")
    assert "• الاسم الرباعي كما في الهوية: أحمد علي صالح الحربي" in summary
    assert "\n1. " not in summary  # the numbers are the options', not the fields'
    (again,) = await exchange(chat, "ربما")
    # Only the choice again, not the whole summary (many SMS segments).
    assert again == CHOOSE_OPTION_AR and titles(chat)[0] == "تأكيد وإرسال"
    (which,) = await exchange(chat, "تعديل")
    assert which.startswith("أي إجابة تريد تعديلها؟ اكتب رقمها:")
    assert "\n1. الاسم الرباعي كما في الهوية\n" in which
    (question,) = await exchange(chat, "1")
    assert question.startswith("السؤال 1 من 11")
    (summary,) = await exchange(chat, "أحمد علي صالح العتيبي")
    assert "أحمد علي صالح العتيبي" in summary
    (attestation,) = await exchange(chat, "تأكيد وإرسال")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    receipt, _updates = await exchange(chat, "أقر وأؤكد", replies=2)
    assert receipt.startswith("تم استلام طلبك")


async def test_three_at_the_summary_cancels_and_continue_resumes_by_its_title(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await until_documents(chat, national_id(13002))
    await exchange(chat, "تخطي")
    (cancelled,) = await exchange(chat, "3")
    assert cancelled.startswith("أُلغي طلبك، ولم يُرسَل أي شيء.")

    await exchange(chat, "2", replies=2)
    await exchange(chat, "سلمى خالد سعد العتيبي")
    await exchange(chat, "القائمة")
    (offer,) = await exchange(chat, "2")
    assert offer.startswith("لديك طلب غير مكتمل بدأته في")
    (question,) = await exchange(chat, "متابعة")
    assert question.startswith("السؤال 2 من 11")

    english = await new_chat(http, live_gateway, "hello")
    await exchange(english, "Apply for support", replies=2)
    await exchange(english, "Sara Khalid Saad Alotaibi")
    await exchange(english, "menu")
    await exchange(english, "Apply for support")
    (question,) = await exchange(english, "Continue")
    assert question.startswith("Question 2 of 11")


# -- 5. numbers in Questions and answers --------------------------------------------------------
def test_numbers_choose_a_topic_and_a_suggestion_on_numbered_lists(tmp_path: Path) -> None:
    hours = PROFILE_DATA.faq[3]
    documents = PROFILE_DATA.get_faq_topic("documents")
    assert documents is not None
    lines = ["مرحبا", "1", "4", "1", "القائمة", "الاوراق", "1"]
    result = run_chat(tmp_path, "\n".join(lines) + "\n", "--as", "numbers")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"4. {hours.title.ar}" in out
    assert f"1. {hours.entries[0].questions.ar[0]}" in out  # topic 4's questions
    assert hours.entries[0].answer.ar.strip().splitlines()[0] in out  # and its first answer
    assert "هل تقصد أحد هذه الأسئلة؟" in out
    assert out.rstrip().endswith("هل من شيء آخر؟ اكتب سؤالًا آخر، أو اكتب «القائمة».")
    assert "لا أعرف إجابة هذا السؤال بعد" not in out


async def test_a_typed_number_chooses_a_topic_on_the_web_chat_too(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    await exchange(chat, "1")
    (topic,) = await exchange(chat, "4")
    assert topic == PROFILE_DATA.faq[3].title.en


# -- 6. answers refused or understood -----------------------------------------------------------
async def test_names_and_dates_are_refused_or_understood_truthfully(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await exchange(chat, "2", replies=2)
    (reply,) = await exchange(chat, "١٠٠٠١٢٣٤٥٤")
    assert reply.startswith("الاسم لا يُكتب بالأرقام.")
    (reply,) = await exchange(chat, "كيف اقدم على الدعم وش الشروط")
    assert reply.startswith("يبدو أن هذا ليس اسمًا.")
    await exchange(chat, "أحمد علي صالح الحربي")
    await exchange(chat, national_id(13003))
    (reply,) = await exchange(chat, "12/5/89")
    assert reply.startswith("يُرجى كتابة السنة بأرقامها الأربعة")
    (reply,) = await exchange(chat, "15 مارس 1410")
    assert reply.startswith("الشهر والسنة من تقويمين مختلفين.")
    (reply,) = await exchange(chat, "12 جمادى الاولى 1410")
    assert reply.startswith("السؤال 4 من 11")
    (reply,) = await exchange(chat, "15 شعبان 1450 هـ")
    assert reply.startswith("السؤال 5 من 11")
    for answer in form_answers_ar("")[4:]:
        await exchange(chat, answer)
    (summary,) = await exchange(chat, "لا")  # no documents: the step moves on
    assert "12 جمادى الأولى 1410 هـ (10 ديسمبر 1989 م)" in summary
    await exchange(chat, "1")
    receipt, _updates = await exchange(chat, "أكيد", replies=2)  # "sure" accepts
    assert receipt.startswith("تم استلام طلبك")

    english = await new_chat(http, live_gateway, "hello")
    await exchange(english, "Apply for support", replies=2)
    await exchange(english, "Ahmed Ali Saleh Alharbi")
    await exchange(english, national_id(13004))
    (reply,) = await exchange(english, "15 March 1990")
    assert reply.startswith("Question 4 of 11")


async def test_the_documents_step_moves_on_and_keeps_what_is_typed_there(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, cipher: Cipher
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await until_documents(chat, national_id(13005))
    (kept,) = await exchange(chat, "صورة الهوية عند ابني وبرسلها بكرة")
    assert kept.startswith("شكرًا لك، أضفتُ ما كتبته إلى طلبك ملاحظةً")
    (summary,) = await exchange(chat, "تم")
    assert "ملاحظتك: صورة الهوية عند ابني وبرسلها بكرة" in summary
    (attestation,) = await exchange(chat, "1")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    receipt, updates = await exchange(chat, "تمام", replies=2)  # "fine" accepts
    assert PROFILE_DATA.consent.updates_question.ar in updates
    assert receipt.startswith("تم استلام طلبك")
    (subscribed,) = await exchange(chat, "ايه")  # "yeah" to the updates question
    assert subscribed.startswith("تم: اشتركت في تحديثات")
    with database(live_gateway.database_url) as db:
        request = db.scalars(select(SupportRequest).order_by(SupportRequest.id.desc())).first()
        assert request is not None
        assert request.answers["documents:note"] == "صورة الهوية عند ابني وبرسلها بكرة"

    english = await new_chat(http, live_gateway, "hello")
    await exchange(english, "Apply for support", replies=2)
    for answer in [
        "Ahmed Ali Saleh Alharbi",
        national_id(13006),
        "07/12/1989",
        "2030-01-15",
        "0501234567",
        "Riyadh",
        "5",
        "3500",
        "1",
        "We are a family of five and need help with food.",
    ]:
        await exchange(english, answer)
    (summary,) = await exchange(english, "no")
    assert summary.startswith("Please review your answers:")
    (attestation,) = await exchange(english, "submit")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.en)
    receipt, _updates = await exchange(english, "sure", replies=2)
    assert receipt.startswith("Your request has been received.")
