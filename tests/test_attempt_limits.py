"""Limits that a new web-chat session cannot reset (issue 10, items 5 and 6): verification
codes sent to one number, asked for from one client address, codes tried for one number,
and identity checks on a request — counted in Redis across every conversation — and only the
date of birth proving who filed a request. Through the router with the real journeys, on
both database backends, with real Redis."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import count

import pytest
from redis.asyncio import Redis
from rq import Queue

from bot.app.router import Outcome, Router
from bot.effects import FileRequest
from bot.models import AddressKind, InboundMessage
from bot.profile import Profile
from bot.storage import Store
from bot.storage.references import REQUEST_PREFIX, new_reference
from handlers.base import Dispatcher, Handler, Turn
from handlers.wiring import build_dispatcher
from tests.conftest import REDIS_URL
from tests.journeys import national_id
from worker.queues import QueueOutbox, make_queue

TOO_MANY_CODES = "أُرسل عدد كبير من الرموز"
CODE_SENT = "أرسلتُ رمز التحقق إلى"
WRONG_TOO_OFTEN = "أُدخل الرمز خطأً مرات كثيرة"
LINKED = "تم ربط الرقم"
NO_MATCH = "البيانات لا تطابق هذا الطلب"
LOCKED = "لا يمكن التحقق من هذا الطلب الآن"
NOT_FILED_HERE = "لم يُقدَّم هذا الطلب من هذه المحادثة"
BIRTH_DATE, ID_EXPIRY = date(1989, 12, 10), date(2031, 1, 31)
_phones = count(1)
_ids = count(8101)


def new_phone() -> str:
    return f"05{60000000 + next(_phones):08d}"


class FilesARequest(Handler):
    """ "file it" files a support request with a birth date and an ID expiry date."""

    def check(self, turn: Turn) -> bool:
        return turn.message.text == "file it"

    async def handle(self, turn: Turn) -> None:
        reference = new_reference(REQUEST_PREFIX)
        nid = turn.state.data.get("nid") or national_id(next(_ids))
        answers = {
            "full_name": "أحمد",
            "national_id": nid,
            "birth_date": BIRTH_DATE.isoformat(),
            "id_expiry": ID_EXPIRY.isoformat(),
        }
        turn.effect(
            FileRequest(
                reference, "rent", nid, answers, "v1", turn.now, turn.now + timedelta(days=14)
            )
        )
        turn.say(f"{reference} {nid}")


@pytest.fixture
def queue() -> Iterator[Queue]:
    queue = make_queue(REDIS_URL, f"limits-{uuid.uuid4().hex[:8]}")
    yield queue
    queue.connection.close()


@pytest.fixture
def router(store: Store, redis: Redis, profile: Profile, queue: Queue) -> Router:
    journeys = build_dispatcher(profile)
    dispatcher = Dispatcher(
        [FilesARequest(), *journeys.global_handlers], journeys.flows, journeys.fallback
    )
    return Router(
        store,
        redis,
        QueueOutbox(queue, redis),
        dispatcher,
        profile,
        ("twilio", AddressKind.SMS),
    )


class Chat:
    """One web-chat session (a new one is free), optionally from a client address."""

    def __init__(self, router: Router, store: Store, client: str | None = None) -> None:
        self.router, self.store, self.client = router, store, client
        self.address = uuid.uuid4().hex

    async def send(self, text: str) -> Outcome:
        return await self.router.handle(
            InboundMessage(
                "webchat",
                AddressKind.WEBCHAT,
                self.address,
                uuid.uuid4().hex,
                text,
                client_address=self.client,
            )
        )

    async def say(self, text: str) -> str:
        """Send, and return the text of the reply (the first one, when there are more)."""
        outcome = await self.send(text)
        delivery = await self.store.deliveries.delivery(outcome.reply_ids[0])
        assert delivery is not None
        return delivery.message.text

    async def ask_code(self, phone: str) -> tuple[str, str | None]:
        """Start linking `phone`: the reply, and the code sent to the phone (if one was)."""
        await self.say("مرحبا")
        await self.say("link phone")
        outcome = await self.send(phone)
        deliveries = [await self.store.deliveries.delivery(i) for i in outcome.reply_ids]
        texts = [d.message.text for d in deliveries if d is not None]
        codes = [d for d in deliveries if d is not None and d.address_kind is AddressKind.SMS]
        code = re.search(r"\d{6}", codes[0].message.text) if codes else None
        return texts[0], code.group(0) if code else None


async def codes_sent_to(store: Store, phone: str) -> int:
    """How many verification codes were queued for this phone, in all."""

    def run() -> int:
        from sqlalchemy import select

        from bot.tables import ContactAddress, Message

        with store.db.sessions() as session:
            addresses = session.scalars(
                select(ContactAddress.id).where(
                    ContactAddress.kind == "sms",
                    ContactAddress.address_hash == store.cipher.lookup_hash("+966" + phone[1:]),
                )
            ).all()
            return len(
                session.scalars(
                    select(Message.id).where(
                        Message.direction == "out", Message.address_id.in_(addresses)
                    )
                ).all()
            )

    return await store.db.run(run)


# -- link phone: SMS pumping and code guessing --------------------------------------------------
async def test_five_sessions_at_once_send_one_number_at_most_three_codes(
    router: Router, store: Store
) -> None:
    phone = new_phone()
    chats = [Chat(router, store) for _ in range(5)]
    answers = await asyncio.gather(*(chat.ask_code(phone) for chat in chats))
    sent = [reply for reply, code in answers if code is not None]
    refused = [reply for reply, code in answers if code is None]
    assert len(sent) == 3 and all(reply.startswith(CODE_SENT) for reply in sent)
    assert len(refused) == 2 and all(reply.startswith(TOO_MANY_CODES) for reply in refused)
    assert await codes_sent_to(store, phone) == 3


async def test_one_client_address_cannot_send_codes_to_number_after_number(
    router: Router, store: Store
) -> None:
    client = f"198.51.100.{next(_phones) % 250}"
    answers = [await Chat(router, store, client).ask_code(new_phone()) for _ in range(7)]
    assert [code is not None for _, code in answers] == [True] * 6 + [False], answers
    assert answers[-1][0].startswith(TOO_MANY_CODES)
    # Someone else, elsewhere, still gets their code.
    assert (await Chat(router, store, "203.0.113.9").ask_code(new_phone()))[1] is not None


async def test_guessing_a_numbers_code_is_bounded_across_sessions(
    router: Router, store: Store
) -> None:
    """Each session may try its code five times, but one number's codes ten times in all:
    three sessions asking codes for the same phone do not get fifteen guesses."""
    phone = new_phone()
    chats = [Chat(router, store) for _ in range(3)]
    asked = [await chat.ask_code(phone) for chat in chats]
    codes = [code for _, code in asked]
    assert all(codes), asked
    for chat, tries in zip(chats, (4, 4, 2), strict=True):
        for _ in range(tries):
            assert (await chat.say("000000")).startswith("الرمز غير صحيح")
    last, code = chats[-1], codes[-1]
    assert code is not None
    assert (await last.say(code)).startswith(WRONG_TOO_OFTEN)  # even the right code, now
    # An honest beneficiary's own right code does not count against them.
    honest, honest_phone = Chat(router, store), new_phone()
    (_, own) = await honest.ask_code(honest_phone)
    assert own is not None and (await honest.say(own)).startswith(LINKED)


# -- request status: the lockout holds, and only the birth date proves it -----------------------
async def filed(router: Router, store: Store) -> tuple[str, str]:
    """A request filed by a beneficiary of its own: (reference, national ID)."""
    reply = await Chat(router, store).say("file it")
    reference, nid = reply.split()
    return reference, nid


async def ask_status(chat: Chat, reference: str) -> str:
    await chat.say("إلغاء")  # back to the menu, from wherever the chat was
    await chat.say("3")
    return await chat.say(reference)


async def test_three_wrong_birth_dates_lock_the_request_even_for_a_new_session(
    router: Router, store: Store
) -> None:
    reference, nid = await filed(router, store)
    prober = Chat(router, store)
    assert (await ask_status(prober, reference)).startswith(NOT_FILED_HERE)
    for wrong in ("01/01/1990", "02/01/1990", "03/01/1990"):
        await prober.say(nid)
        assert (await prober.say(wrong)).startswith(NO_MATCH)
    # Starting the journey again ("3" and the reference) does not reset the count…
    assert (await ask_status(prober, reference)).startswith(LOCKED)
    # …nor does a new session, even with the right details: the request is locked a while.
    other = Chat(router, store)
    assert (await ask_status(other, reference)).startswith(LOCKED)


async def test_a_contact_cannot_try_request_after_request(router: Router, store: Store) -> None:
    prober = Chat(router, store)
    for _ in range(5):
        reference, nid = await filed(router, store)
        assert (await ask_status(prober, reference)).startswith(NOT_FILED_HERE)
        await prober.say(nid)
        assert (await prober.say("01/01/1990")).startswith(NO_MATCH)
    reference, nid = await filed(router, store)
    assert (await ask_status(prober, reference)).startswith(LOCKED)


async def test_the_id_expiry_date_does_not_prove_the_date_of_birth(
    router: Router, store: Store
) -> None:
    reference, nid = await filed(router, store)
    other = Chat(router, store)
    await ask_status(other, reference)
    await other.say(nid)
    assert (await other.say(ID_EXPIRY.strftime("%d/%m/%Y"))).startswith(NO_MATCH)
    await other.say(nid)
    assert (await other.say(BIRTH_DATE.strftime("%d/%m/%Y"))).startswith(f"الطلب {reference}")
