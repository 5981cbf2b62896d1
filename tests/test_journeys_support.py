"""The support request, request status, inquiries and hand-off journeys, end to end through
the web chat API (and the terminal), in Arabic and English, with the stored records."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select, text, update

from bot.crypto import Cipher
from bot.i18n import translator
from bot.profile_loader import load_profile
from bot.tables import Contact, ContactAddress, Handoff, RequestStatusEvent, SupportRequest
from tests.chat_client import ChatClient
from tests.conftest import PROFILE, ROOT, LiveGateway
from tests.journeys import (
    arabic_digits,
    database,
    due_date_text,
    exchange,
    form_answers_ar,
    national_id,
)

AR = translator("ar")
EN = translator("en")
PROFILE_DATA = load_profile(PROFILE)
REFERENCE = re.compile(r"R-\d{9}")


def handoff_count(gateway: LiveGateway) -> int:
    with database(gateway.database_url) as db:
        return len(db.scalars(select(Handoff.id)).all())


async def new_chat(http: aiohttp.ClientSession, gateway: LiveGateway, first: str) -> ChatClient:
    chat = await ChatClient(http, gateway.url).start()
    await exchange(chat, first)
    return chat


async def fill_until_summary(chat: ChatClient, nid: str, language: str = "ar") -> None:
    """Answer every question correctly (the happy path), ending at the summary."""
    answers = {
        "ar": [*form_answers_ar(nid), "تخطي"],
        "en": [
            "Ahmed Ali Saleh Alharbi",
            nid,
            "07/12/1989",
            "2030-01-15",
            "+966 50 123 4567",
            "Riyadh",
            "5",
            "3,500",
            "Help with rent",
            "We are a family of five and need help with the rent.",
            "skip",
        ],
    }[language]
    for answer in answers:
        await exchange(chat, answer)


async def test_support_request_in_arabic_with_every_unhappy_path(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, cipher: Cipher
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    nid = national_id(1001)
    intro, first = await exchange(chat, "٢", replies=2)
    assert intro.startswith("لنعبّئ طلب الدعم معًا: عدد الأسئلة 11")
    assert first.startswith("السؤال 1 من 11: الاسم الرباعي")

    (reply,) = await exchange(chat, "أحمد علي صالح الحربي")
    assert reply.startswith("السؤال 2 من 11")
    (reply,) = await exchange(chat, nid[:-1] + str((int(nid[-1]) + 1) % 10))  # bad checksum
    assert reply.startswith("رقم الهوية غير صحيح. يُرجى التأكد من الأرقام")
    assert "السؤال 2 من 11" in reply
    (reply,) = await exchange(chat, "3" + nid[1:])
    assert reply.startswith("يبدأ رقم الهوية الوطنية بالرقم 1 للمواطن")
    (reply,) = await exchange(chat, arabic_digits(nid))  # Arabic-Indic digits are fine
    assert reply.startswith("السؤال 3 من 11: تاريخ الميلاد")
    (reply,) = await exchange(chat, "٣١/٠٢/١٩٩٠")
    assert reply.startswith("هذا التاريخ غير موجود في التقويم")
    (reply,) = await exchange(chat, "12/05/1410")
    assert reply.startswith("السؤال 4 من 11: تاريخ انتهاء الهوية")
    (reply,) = await exchange(chat, "01/01/1440")  # expired in 2018
    assert reply.startswith("انتهت صلاحية هذا المستند في 1 محرم 1440 هـ")
    (reply,) = await exchange(chat, "رجوع")
    assert reply.startswith("السؤال 3 من 11")
    await exchange(chat, "12/05/1410")
    (reply,) = await exchange(chat, "15/08/1450")
    assert reply.startswith("السؤال 5 من 11: رقم الجوال")
    (reply,) = await exchange(chat, "0112345678")
    assert reply.startswith("هذا رقم هاتف ثابت. يُرجى إرسال رقم جوال")
    await exchange(chat, "٠٥٠١٢٣٤٥٦٧")
    await exchange(chat, "الرياض")
    (reply,) = await exchange(chat, "٤٥")
    assert reply.startswith("يُرجى إرسال رقم بين 1 و30")
    await exchange(chat, "٥")
    (reply,) = await exchange(chat, "٣٬٥٠٠ ريال")
    assert reply.startswith("السؤال 9 من 11: نوع الدعم المطلوب")
    (reply,) = await exchange(chat, "المساعدة في سداد الإيجار", button_id="opt:rent")
    assert reply.startswith("السؤال 10 من 11")
    (reply,) = await exchange(chat, "قصير")
    assert reply.startswith("يُرجى كتابة إجابة لا يقل عدد أحرفها عن")
    await exchange(chat, "نحن أسرة من خمسة أفراد ونحتاج المساعدة في دفع الإيجار الشهري.")
    (summary,) = await exchange(chat, "تخطي")
    assert summary.startswith("يُرجى مراجعة إجاباتك:")
    assert f"• رقم الهوية الوطنية أو الإقامة: {nid}" in summary
    assert "12 جمادى الأولى 1410 هـ (10 ديسمبر 1989 م)" in summary
    assert "3,500 ريال" in summary
    assert "• نوع الدعم المطلوب: المساعدة في سداد الإيجار" in summary

    # Edit the mobile number from the summary, by its number.
    (reply,) = await exchange(chat, "2")
    assert reply.startswith("أي إجابة تريد تعديلها؟")
    (reply,) = await exchange(chat, "٥")
    assert reply.startswith("السؤال 5 من 11")
    (summary,) = await exchange(chat, "0551112222")
    assert "+966551112222" in summary

    (attestation,) = await exchange(chat, "1")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    # Not an acceptance: the reason, then the declaration again (two replies).
    reply, again = await exchange(chat, "ربما", replies=2)
    assert reply.startswith("لا يمكن إرسال الطلب إلا بعد تأكيدك للإقرار")
    assert again.startswith(PROFILE_DATA.support_form.attestation.text.ar)
    receipt, updates = await exchange(chat, "أقر", replies=2)
    reference = REFERENCE.search(receipt)
    assert reference is not None
    assert receipt.startswith(f"تم استلام طلبك، ورقمه المرجعي {reference.group()}.")
    assert "لجنة البحث" in receipt and "مدة لا تقل عن 14 يومًا" in receipt
    assert due_date_text("ar") in receipt
    assert PROFILE_DATA.consent.updates_question.ar in updates

    with database(live_gateway.database_url) as db:
        request = db.scalar(
            select(SupportRequest).where(SupportRequest.reference == reference.group())
        )
        assert request is not None
        assert (request.status, request.channel, request.request_type) == (
            "submitted",
            "webchat",
            "rent",
        )
        assert request.attestation_version == PROFILE_DATA.support_form.attestation.version
        assert datetime.now(UTC) - request.attested_at < timedelta(minutes=1)
        assert request.answers["mobile"] == "+966551112222"
        assert request.answers["national_id"] == nid
        assert request.national_id_hash == cipher.lookup_hash(nid)
        events = db.scalars(
            select(RequestStatusEvent.status).where(RequestStatusEvent.request_id == request.id)
        ).all()
        assert events == ["submitted"]
        contact = db.get(Contact, request.contact_id)
        assert contact is not None and contact.national_id == nid
        raw = db.execute(
            text("SELECT answers, national_id_hash FROM support_requests WHERE id = :id"),
            {"id": request.id},
        ).one()
        assert nid not in repr(raw) and "+966551112222" not in repr(raw)

    # The same person asks for the status: their request is offered as a button.
    await exchange(chat, "لا")  # no updates, thanks
    (which,) = await exchange(chat, "حالة الطلب")
    assert which.startswith("أي طلب تقصد؟")
    assert reference.group() in [b["title"] for b in chat.transcript[-1]["buttons"]]
    (status,) = await exchange(chat, reference.group(), button_id=f"req:{reference.group()}")
    assert status.startswith(
        f"الطلب {reference.group()} (المساعدة في سداد الإيجار): مستلَم، بانتظار لجنة البحث."
    )
    assert "سجل الحالات:" in status and "فتوقَّع ردّها ابتداءً من" in status

    # A second application with the same national ID, from another person, is refused.
    other = await new_chat(http, live_gateway, "مرحبا")
    await exchange(other, "2", replies=2)
    await exchange(other, "فاطمة أحمد محمد الحربي")
    (reply,) = await exchange(other, nid)
    assert reply.startswith("لا يمكن تقديم طلب جديد برقم الهوية هذا.")  # and no reference
    assert reference.group() not in reply

    # Someone else asks for this request's status: only after proving who they are.
    (ask,) = await exchange(other, "3")
    assert ask.startswith("يُرجى كتابة الرقم المرجعي للطلب")
    (reply,) = await exchange(other, arabic_digits(reference.group()[2:]))
    assert reply.startswith("لم يُقدَّم هذا الطلب من هذه المحادثة")
    await exchange(other, nid)
    (reply,) = await exchange(other, "01/01/1990")  # wrong date of birth
    assert reply.startswith("البيانات لا تطابق هذا الطلب")
    await exchange(other, nid)
    (status,) = await exchange(other, "07/12/1989")  # wrong again: 12/05/1410 is 10/12/1989
    assert status.startswith("البيانات لا تطابق هذا الطلب")
    await exchange(other, nid)
    (status,) = await exchange(other, "10/12/1989")  # the same day, in Gregorian
    assert status.startswith(f"الطلب {reference.group()}")


async def test_support_request_in_english(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    intro, first = await exchange(chat, "Apply for support", replies=2)
    assert intro.startswith("Let us fill in the support request together: 11 questions")
    assert first == "Question 1 of 11: Full name (four parts) as on your ID"
    await fill_until_summary(chat, national_id(1002), "en")
    (attestation,) = await exchange(chat, "Confirm and submit", button_id="form:submit")
    assert attestation.startswith(PROFILE_DATA.support_form.attestation.text.en)
    receipt, _updates = await exchange(chat, "yes", replies=2)
    assert receipt.startswith("Your request has been received. Its reference number is R-")
    assert "takes at least 14 days" in receipt and due_date_text("en") in receipt


async def test_cancel_midway_keeps_nothing(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await exchange(chat, "2", replies=2)
    await exchange(chat, "سارة محمد علي القحطاني")
    (reply,) = await exchange(chat, "إلغاء")
    assert reply.startswith("أُلغي طلبك، ولم يُرسَل أي شيء.")
    assert len(chat.transcript[-1]["buttons"]) == 8  # back at the menu
    _intro, first = await exchange(chat, "2", replies=2)
    assert first.startswith("السؤال 1 من 11")  # no draft to resume


async def test_a_half_done_form_resumes_on_another_channel(
    http: aiohttp.ClientSession, live_gateway: LiveGateway, cipher: Cipher
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await exchange(chat, "2", replies=2)
    await exchange(chat, "خالد عبدالله سعد العتيبي")
    await exchange(chat, national_id(1003))
    (menu,) = await exchange(chat, "القائمة")  # they leave the form for now
    assert menu.startswith("القائمة الرئيسية.")
    # The beneficiary's terminal address belongs to the same contact (as once they verify their
    # phone on another channel); they come back there and pick up where they were.
    session_id = chat.session.split(".")[0]
    with database(live_gateway.database_url) as db:
        contact_id = db.scalar(
            select(ContactAddress.contact_id).where(
                ContactAddress.address_hash == cipher.lookup_hash(session_id)
            )
        )
        db.add(
            ContactAddress(
                contact_id=contact_id,
                kind="terminal",
                address="khaled@terminal",
                address_hash=cipher.lookup_hash("khaled@terminal"),
            )
        )
        db.commit()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot.app.cli", "chat", "--as", "khaled@terminal"],
        input="2\n1\n",
        capture_output=True,
        text=True,
        env={**live_gateway.env, "TAWASUL_LOG_LEVEL": "WARNING"},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    offer, question = result.stdout.strip().split("\n\n", 1)[0], result.stdout
    assert offer.startswith("لديك طلب غير مكتمل بدأته في")
    assert "1. إكمال\n2. البدء من جديد" in result.stdout
    assert question.rstrip().split("\n\n")[-1].startswith("السؤال 3 من 11: تاريخ الميلاد")


async def test_inquiries_answer_suggest_and_offer_staff_after_two_misunderstandings(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    (topics,) = await exchange(chat, "1")
    assert topics.startswith("اكتب سؤالك بأسلوبك، أو اختر موضوعًا:")
    documents = PROFILE_DATA.get_faq_topic("documents")
    assert documents is not None
    (answer,) = await exchange(chat, "وش الاوراق المطلوبه للتقديم")
    assert answer.startswith(documents.entries[0].answer.ar.strip()[:40])
    assert answer.endswith("هل من شيء آخر؟ اكتب سؤالًا آخر، أو اكتب «القائمة».")
    (answer,) = await exchange(chat, "متى تفتحون")
    assert "الأحد إلى الخميس" in answer
    (unknown,) = await exchange(chat, "كم سعر الذهب اليوم")
    assert unknown.startswith("لا أعرف إجابة هذا السؤال بعد.")
    assert [b["title"] for b in chat.transcript[-1]["buttons"]] == ["التحدث مع موظف"]
    # The second miss offers a person and the menu; it hands nothing over unasked.
    handoffs_before = handoff_count(live_gateway)
    (offer,) = await exchange(chat, "اسعار السيارات المستعملة")
    assert offer.startswith("أعتذر لأني لم أتمكن من مساعدتك في هذا. إن رغبت، يجيبك أحد موظفينا")
    assert "التحدث مع موظف" in [b["title"] for b in chat.transcript[-1]["buttons"]]
    assert handoff_count(live_gateway) == handoffs_before
    (handed,) = await exchange(chat, "التحدث مع موظف")
    assert "إلى هيفاء العمري، من فريق التواصل لدينا في مجال «علاقات المستفيدين والجودة»" in handed
    assert handed.endswith(
        "وللعودة إلى الخدمة الآلية في أي وقت اكتب «القائمة»، وتبقى محادثتك مفتوحة لدى فريقنا."
    )

    # While staff hold the conversation the bot is quiet…
    await chat.post("مرحبا")
    await chat.quiet()
    # …and once staff close the hand-off, it answers again.
    with database(live_gateway.database_url) as db:
        db.execute(update(Handoff).where(Handoff.status == "open").values(status="closed"))
        db.commit()
    (greeting,) = await exchange(chat, "مرحبا")
    assert greeting.startswith("أهلًا بك في جمعية البر الخيرية النموذجية")


async def test_talk_to_staff_from_the_menu_reaches_the_general_officer(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "hello")
    (reply,) = await exchange(chat, "5")
    assert "our officer for Beneficiary relations and quality" in reply
    with database(live_gateway.database_url) as db:
        handoff = db.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None
        assert (handoff.domain, handoff.reason, handoff.status) == (
            "beneficiary_relations",
            "requested",
            "open",
        )
        officer = PROFILE_DATA.get_domain("beneficiary_relations")
        assert officer is not None and handoff.officer_email == officer.officer.email


def test_support_request_through_the_terminal(tmp_path: Path) -> None:
    from tests.test_terminal_chat import run_chat

    nid = national_id(1004)
    lines = "\n".join(
        [
            "مرحبا",
            "2",
            "نورة سعد محمد الدوسري",
            nid,
            "1/1/1995",
            "1/1/2031",
            "0561234567",
            "جدة",
            "3",
            "2000",
            "1",
            "أحتاج سلة غذائية لأسرتي المكونة من ثلاثة أفراد.",
            "تخطي",
            "1",
            "1",
            "لا",
        ]
    )
    result = run_chat(tmp_path, lines + "\n", "--as", "noura")
    assert result.returncode == 0, result.stderr
    assert "• الاسم الرباعي كما في الهوية: نورة سعد محمد الدوسري" in result.stdout
    assert "تم استلام طلبك، ورقمه المرجعي R-" in result.stdout
    assert due_date_text("ar") in result.stdout


async def test_asking_for_staff_inside_the_form_reaches_the_request_domain_officer(
    http: aiohttp.ClientSession, live_gateway: LiveGateway
) -> None:
    chat = await new_chat(http, live_gateway, "مرحبا")
    await exchange(chat, "2", replies=2)
    answers = [
        "منى خالد سعيد الشمري",
        national_id(1005),
        "01/01/1990",
        "1/1/2031",
        "0561112233",
        "الدمام",
        "4",
        "1500",
    ]
    for answer in answers:
        await exchange(chat, answer)
    await exchange(chat, "المساعدة في سداد الإيجار", button_id="opt:rent")
    (reply,) = await exchange(chat, "أبي موظف")
    social = PROFILE_DATA.get_domain("social_research")
    assert social is not None
    assert f"إلى {social.officer.name}، من فريق التواصل لدينا في مجال «{social.label.ar}»" in reply
    with database(live_gateway.database_url) as db:
        handoff = db.scalars(select(Handoff).order_by(Handoff.id.desc())).first()
        assert handoff is not None
        assert (handoff.domain, handoff.reason, handoff.officer_email) == (
            "social_research",
            "form",
            social.officer.email,
        )
        db.execute(update(Handoff).where(Handoff.id == handoff.id).values(status="closed"))
        db.commit()
    # Staff helped; the beneficiary comes back to the application they had begun.
    (offer,) = await exchange(chat, "2")
    assert offer.startswith("لديك طلب غير مكتمل بدأته في")


def test_every_other_journey_in_english_through_the_terminal(tmp_path: Path) -> None:
    from tests.test_terminal_chat import run_chat

    lines = [
        "hello",
        "1",  # questions and answers
        "what documents do I need",
        "menu",
        "3",  # request status
        "R-999999",
        "menu",
        "6",  # updates subscription
        "yes",
        "7",  # privacy and my data
        "2",  # what you hold about me
        "menu",
        "5",  # talk to staff
        "hello again",  # staff hold the conversation: no answer
    ]
    result = run_chat(tmp_path, "\n".join(lines) + "\n", "--as", "walker")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    documents = PROFILE_DATA.get_faq_entry("documents-list")
    assert documents is not None
    assert documents.answer.en.strip().splitlines()[0] in out
    assert "I could not find a request with that number." in out
    assert "Done: you are subscribed to updates from Model Charity Association." in out
    assert "This is what we hold about you:" in out
    assert "Updates: you agreed to receive them" in out
    assert "our officer for Beneficiary relations and quality" in out
    assert out.rstrip().endswith(
        "Your messages here will reach them.\nTo come back to the automatic service at any "
        "time, write “menu”; your conversation stays open for our officer."
    )
