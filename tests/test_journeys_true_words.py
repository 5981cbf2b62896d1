"""No leaks and true words (issue 11): an open request's reference told only to its applicant,
"my data" listing what every record holds, complaint references in the status journey, and
the committee's time said one truthful way. A live `tawasul serve` + `tawasul worker` driven
through the web chat API, in Arabic and English.

Sentences are compared with the catalog's translation computed here, so the assertions hold
whatever wording the catalogs settle on, and fail if the journey says something else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import aiohttp
import babel.lists
from sqlalchemy import update

from bot.i18n import Translator, translator
from bot.profile import Profile
from bot.tables import Complaint, SupportRequest
from handlers import open_request, privacy, request_status, support_request
from tests.chat_client import ChatClient
from tests.conftest import LiveGateway
from tests.journeys import database, due_date_text, exchange, form_answers_ar, national_id

ar, en = translator("ar"), translator("en")
REQUEST_REFERENCE = re.compile(r"\bR-\d{9}\b")
COMPLAINT_REFERENCE = re.compile(r"\bC-\d{9}\b")
ANY_REFERENCE = re.compile(r"\b[A-Z]-\d{6,}\b")


async def new_chat(http: aiohttp.ClientSession, gateway: LiveGateway, hello: str) -> ChatClient:
    chat = await ChatClient(http, gateway.url).start()
    await exchange(chat, hello)
    return chat


async def start_form(chat: ChatClient, name: str) -> None:
    """Apply for support and answer the name: the next answer is the national ID."""
    await exchange(chat, "تقديم طلب دعم", replies=2, button_id="menu:support")
    await exchange(chat, name)


async def file_request(chat: ChatClient, nid: str) -> tuple[str, str]:
    """File the example form in Arabic; the receipt and the reference it gives."""
    await start_form(chat, form_answers_ar(nid)[0])
    for answer in [*form_answers_ar(nid)[1:], "تخطي"]:
        await exchange(chat, answer)
    await exchange(chat, "تأكيد وإرسال", button_id=support_request.SUBMIT)
    receipt, _updates = await exchange(
        chat, "أقر وأؤكد", replies=2, button_id=support_request.ATTEST
    )
    (reference,) = REQUEST_REFERENCE.findall(receipt)
    await exchange(chat, "لا")  # no updates, thanks: the menu again
    return receipt, reference


async def file_complaint(chat: ChatClient, description: str, replies: int = 1) -> str:
    """File a complaint in the first category; `replies` is 2 when the updates question
    follows (the conversation's first completed journey)."""
    await exchange(chat, "شكوى أو اقتراح", button_id="menu:complaint")
    await exchange(chat, "١")
    await exchange(chat, description)
    response = await chat.post("تخطي", button_id="skip")
    assert response.status == 202
    filed, *_question = await chat.replies(replies)
    (reference,) = COMPLAINT_REFERENCE.findall(filed["text"])
    return reference


def lead(t: Translator, msgid: str, **values: str) -> str:
    return t.gettext(msgid).format(**values) if values else t.gettext(msgid)


async def test_an_open_requests_reference_is_told_only_to_whoever_filed_it(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    nid = national_id(11_002)
    applicant = await new_chat(http, live_gateway, "مرحبا")
    _receipt, reference = await file_request(applicant, nid)

    # A stranger typing the same ID learns nothing of the request, and is offered staff.
    stranger = await new_chat(http, live_gateway, "مرحبا")
    await start_form(stranger, "فاطمة أحمد محمد الحربي")
    (refused,) = await exchange(stranger, nid)
    assert refused.startswith(ar.gettext(open_request.ID_CANNOT_BE_USED))
    assert reference not in refused and not ANY_REFERENCE.search(refused)
    assert "التحدث مع موظف" in [b["title"] for b in stranger.transcript[-1]["buttons"]]

    english = await new_chat(http, live_gateway, "hello")
    await exchange(english, "Apply for support", replies=2, button_id="menu:support")
    await exchange(english, "Fatima Ahmed Mohammed Alharbi")
    (refused,) = await exchange(english, nid)
    assert refused.startswith(
        "This national ID cannot be used for a new request. If you think this is a mistake"
    )
    assert not ANY_REFERENCE.search(refused)

    # The applicant, applying again, is told their own request's number.
    await start_form(applicant, form_answers_ar(nid)[0])
    (told,) = await exchange(applicant, nid)
    assert told.startswith(lead(ar, open_request.ALREADY_OPEN, reference=reference))


async def test_my_data_lists_what_each_request_and_complaint_holds(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    _receipt, reference = await file_request(chat, national_id(11_003))
    complaint = await file_complaint(chat, "انتظرت ثلاث ساعات في الفرع دون أن يخدمني أحد")

    await exchange(chat, "الخصوصية وبياناتي", button_id="menu:privacy")
    (summary,) = await exchange(chat, "٢")
    assert summary.startswith(ar.gettext(privacy.SUMMARY_HEADING))
    labels = [f.label.ar for f in profile.support_form.fields if f.kind != "media"]
    assert (
        "• "
        + ar.gettext("Support request {reference}: {details}").format(
            reference=reference, details=babel.lists.format_list(labels, locale="ar")
        )
        in summary
    )
    assert "الاسم الرباعي" in summary and "رقم الجوال" in summary and "دخل الأسرة" in summary
    not_held = ar.gettext("not held")
    assert ar.gettext("Your name: {held}").format(held=not_held) not in summary
    assert ar.gettext("National ID number: {held}").format(held=ar.gettext("held")) in summary
    assert (
        "• "
        + ar.gettext("Complaint {reference}: {details}").format(
            reference=complaint, details=ar.gettext("your description")
        )
        in summary
    )
    assert (
        ar.gettext("Support requests: {references}").format(references=ar.gettext("none"))
        not in summary
    )


async def test_my_data_of_a_newcomer_in_english_says_what_is_not_held(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    await exchange(chat, "Privacy and my data", button_id="menu:privacy")
    (summary,) = await exchange(chat, "2")
    assert "• Your name: not held" in summary
    assert "• National ID number: not held" in summary
    assert "• Support requests: none" in summary and "• Complaints: none" in summary


async def test_a_complaint_reference_in_the_status_journey_shows_that_complaint(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    reference = await file_complaint(chat, "الموظف لم يرد على اتصالاتي منذ أسبوع كامل", 2)
    await exchange(chat, "لا")  # the updates question, once

    (ask,) = await exchange(chat, "حالة الطلب", button_id="menu:status")
    assert ask == ar.gettext(request_status.ASK_REFERENCE)
    assert "R-482139075" in ask  # the example has the references' own shape
    (status,) = await exchange(chat, reference.lower())
    category = profile.complaint_categories[0].label.ar
    assert status.startswith(
        ar.gettext("Complaint {reference} ({category}): {status}.").format(
            reference=reference,
            category=category,
            status=ar.gettext(request_status.COMPLAINT_STATUS_LABELS["open"]),
        )
    )
    assert (
        ar.gettext("We will respond by {date}.").format(
            date=due_date_text("ar", profile.sla.complaint_response_days)
        )
        in status
    )

    # Past its response date: an apology and a person, not a date gone by as a promise.
    with database(live_gateway.database_url) as db:
        db.execute(
            update(Complaint)
            .where(Complaint.reference == reference)
            .values(respond_by=datetime.now(UTC) - timedelta(days=1))
        )
        db.commit()
    await exchange(chat, "حالة الطلب", button_id="menu:status")
    (late,) = await exchange(chat, reference)
    assert ar.gettext(request_status.RESPONSE_LATE).format(date=due_date_text("ar", -1)) in late

    # Someone else typing it is told nothing of it.
    other = await new_chat(http, live_gateway, "hello")
    await exchange(other, "Request status", button_id="menu:status")
    (refused,) = await exchange(other, reference)
    assert refused.startswith(en.gettext(request_status.NOT_YOUR_COMPLAINT))
    assert profile.complaint_categories[0].label.en not in refused


async def test_the_committee_time_is_said_one_truthful_way(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    days = profile.sla.request_decision_days
    chat = await new_chat(http, live_gateway, "مرحبا")
    receipt, reference = await file_request(chat, national_id(11_004))
    period = ar.format_days(days)
    assert f"مدة لا تقل عن {period}" in receipt and due_date_text("ar", days) in receipt
    assert "تقريبًا" not in receipt and "بالقبول أو الرفض" not in receipt

    await exchange(chat, "حالة الطلب", button_id="menu:status")
    (status,) = await exchange(chat, reference, button_id=f"req:{reference}")
    assert (
        lead(ar, request_status.DECISION_EXPECTED, period=period, date=due_date_text("ar", days))
        in status
    )
    # The FAQ says it the same way, in both languages.
    (faq,) = await exchange(chat, "كم تستغرق دراسة الطلب؟")
    assert "مدة لا تقل عن أسبوعين" in faq and "تقريبًا" not in faq
    await exchange(chat, "English", button_id="lang:en")
    (faq,) = await exchange(chat, "How long does it take to study a request?")
    assert "at least two weeks" in faq and "about" not in faq


async def test_the_greeting_of_peace_is_returned_first(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    chat = await ChatClient(http, live_gateway.url).start()
    (reply,) = await exchange(chat, "السلام عليكم")
    welcome = ar.gettext("Welcome to {name}! How can we help you today?").format(
        name=profile.name.ar
    )
    assert reply.startswith(f"وعليكم السلام ورحمة الله وبركاته، {welcome}")
    (again,) = await exchange(chat, "السّلام عليكم ورحمة الله وبركاته")  # later, in full
    assert again.startswith(f"وعليكم السلام ورحمة الله وبركاته، {welcome}")
    (hello,) = await exchange(chat, "مرحبا")  # any other greeting: the welcome alone
    assert hello.startswith(welcome)

    english = await ChatClient(http, live_gateway.url).start()
    await exchange(english, "hello")
    (reply,) = await exchange(english, "Assalamu alaikum")
    assert reply.startswith(f"Wa alaikum assalam! Welcome to {profile.name.en}!")


async def test_stop_in_the_middle_of_a_journey_asks_its_question_again(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await start_form(chat, "أحمد علي صالح الحربي")
    asked = chat.transcript[-1]["text"]
    assert asked.startswith("السؤال 2 من 11")
    stopped, again = await exchange(chat, "إيقاف", replies=2)
    assert stopped.startswith("تم: لن تصلك رسائل التحديثات")
    assert again == asked
    (next_question,) = await exchange(chat, national_id(11_005))  # the form goes on
    assert next_question.startswith("السؤال 3 من 11")

    english = await new_chat(http, live_gateway, "hello")
    await exchange(english, "Complaint or suggestion", button_id="menu:complaint")
    (describe,) = await exchange(english, "1")
    stopped, again = await exchange(english, "STOP", replies=2)
    assert stopped.startswith("Done: you will no longer receive updates")
    assert again == describe
    started, again = await exchange(english, "START", replies=2)
    assert started.startswith("Done: you are subscribed to updates")
    assert again == describe


async def test_words_said_where_there_is_no_number_and_for_a_declined_request(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await start_form(chat, form_answers_ar(national_id(11_006))[0])
    for answer in [*form_answers_ar(national_id(11_006))[1:], "تخطي"]:
        await exchange(chat, answer)
    await exchange(chat, "تأكيد وإرسال", button_id=support_request.SUBMIT)
    receipt, question = await exchange(
        chat, "أقر وأؤكد", replies=2, button_id=support_request.ATTEST
    )
    (reference,) = REQUEST_REFERENCE.findall(receipt)
    assert "على هذا الرقم" not in question and "هنا" in question  # a web chat has no number
    await exchange(chat, "لا")

    # The committee declines: said gently, as the FAQ says it.
    with database(live_gateway.database_url) as db:
        db.execute(
            update(SupportRequest)
            .where(SupportRequest.reference == reference)
            .values(status="rejected")
        )
        db.commit()
    await exchange(chat, "حالة الطلب", button_id="menu:status")
    (status,) = await exchange(chat, reference, button_id=f"req:{reference}")
    assert status.startswith(
        f"الطلب {reference} (المساعدة في سداد الإيجار): اعتذرت اللجنة عن قبوله."
    )
    assert "غير مقبول" not in status and "الرفض" not in status

    # The FAQ names the menu's own titles. (Asked in words, «كيف أعرف حالة طلبي؟» now opens the
    # status journey itself, so the FAQ's answers are read where they are kept.)
    answers = [entry.answer.ar for topic in profile.faq for entry in topic.entries]
    assert any("«حالة الطلب»" in answer for answer in answers)
    assert not any("«متابعة طلب" in answer for answer in answers)  # no other name for the entry


async def test_talk_to_staff_names_the_officer_the_profile_names(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, profile: Profile
) -> None:
    general = profile.default_domain()
    chat = await new_chat(http, live_gateway, "مرحبا")
    (reply,) = await exchange(chat, "التحدث مع موظف", button_id="menu:staff")
    assert f"إلى {general.officer.name}، من فريق التواصل لدينا في مجال «{general.label.ar}»" in (
        reply
    )
    assert "مسؤول" not in reply
    english = await new_chat(http, live_gateway, "hello")
    (reply,) = await exchange(english, "Talk to staff", button_id="menu:staff")
    assert f"to {general.officer.name}, our officer for {general.label.en}," in reply


async def test_an_expired_document_in_natural_english(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    await exchange(chat, "Apply for support", replies=2, button_id="menu:support")
    for answer in ["Ahmed Ali Saleh Alharbi", national_id(11_007), "07/12/1989"]:
        await exchange(chat, answer)
    (reply,) = await exchange(chat, "01/01/2020")
    assert reply.startswith("This document expired on ")
