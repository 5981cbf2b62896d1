"""Exactly once against the fake Twilio and Meta APIs (issue 14): the message's own id
travels with every send, a send whose answer never came is `unknown` and is settled by the
provider's signed status report, never sent again; a long text's parts keep their ids; a
throttled answer's Retry-After re-queues the send that late and pauses the shared budget.

The gateway's web application runs in the test (aiohttp's TestServer at TAWASUL_PUBLIC_URL,
where the fakes post their reports), the delivery code as the worker runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.app.runtime import Runtime, open_runtime
from bot.app.web import create_app
from bot.crypto import Cipher
from bot.db import make_engine
from bot.migrate import upgrade
from bot.models import AddressKind, InboundMessage, OutboundMessage
from bot.send_budget import SendBudget, parse_limits
from bot.settings import load_settings
from bot.tables import Message
from bot.tables_outbound import MessagePart
from tests.conftest import PROFILE, REDIS_URL, SECRET_KEY, _free_port
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Reply, new_sid, payload, sign
from tests.fakes.whatsapp import FakeGraphAPI
from tests.fixtures import whatsapp as wa
from tests.processes import Gateway, gateway
from tests.waiting import eventually_async
from worker.delivery import deliver_many
from worker.queues import bulk_queue, enqueue_deliveries, make_queue

SMS_FROM = "+12025550143"
STATUS_PATH = "/webhooks/twilio/status"


@dataclass
class Live:
    runtime: Runtime
    twilio: FakeTwilio
    meta: FakeGraphAPI
    public_url: str


@pytest.fixture
async def live(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Live]:
    """The web app and the delivery code on the fakes; parametrized indirectly, its param
    is TAWASUL_RATE_LIMITS (the providers' defaults otherwise)."""
    twilio = FakeTwilio().start()
    meta = FakeGraphAPI(wa.TOKEN, wa.PHONE_NUMBER_ID).start()
    port = _free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_API_BASE": twilio.url,
        "WHATSAPP_TOKEN": wa.TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": wa.PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": wa.APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": wa.VERIFY_TOKEN,
        "WHATSAPP_API_BASE": meta.url,
    }
    for name, value in env.items():  # each channel reads its own settings from here
        monkeypatch.setenv(name, value)
    database_url = f"sqlite:///{tmp_path / 'tawasul.db'}"
    upgrade(database_url)
    settings = load_settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        redis_url=REDIS_URL,
        secret_key=SECRET_KEY,
        profile=PROFILE,
        public_url=public_url,
        queue_name=f"once-{uuid.uuid4().hex[:8]}",
        rate_limits=getattr(request, "param", ""),
    )
    runtime = await open_runtime(settings, embedded_redis=False)
    meta.webhook_url, meta.app_secret = public_url + "/webhooks/whatsapp", wa.APP_SECRET
    try:
        async with TestServer(create_app(runtime), port=port):
            yield Live(runtime, twilio, meta, public_url)
    finally:
        await runtime.close()
        twilio.stop()
        meta.stop()


def new_phone() -> str:
    return f"+9665{uuid.uuid4().int % 10**8:08d}"


async def reply_to(live: Live, channel: str, kind: AddressKind, address: str, text: str) -> int:
    """A reply to someone who just wrote, stored as queued (what the router leaves)."""
    store = live.runtime.store
    record = await store.inbound.record_inbound(
        InboundMessage(channel, kind, address, uuid.uuid4().hex, "مرحبا")
    )
    assert record is not None
    (message_id,) = await store.inbound.save_turn(record, channel, {}, [OutboundMessage(text)], [])
    return message_id


def stored(live: Live, message_id: int) -> Message:
    with live.runtime.store.db.sessions() as session:
        message = session.get(Message, message_id)
        assert message is not None
        session.expunge(message)
        return message


async def test_a_send_that_timed_out_is_unknown_until_twilios_callback_settles_it(
    live: Live,
) -> None:
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, "تم استلام طلبك")
    # Twilio takes the message at once and answers after the send has given up waiting.
    live.twilio.script(phone, Reply(201, answer_after=2.0))
    live.twilio.report_statuses = ("sent", "delivered")
    live.runtime.channels["twilio"].send_timeout = 0.3  # type: ignore[attr-defined]

    assert await deliver_many(live.runtime, [message_id]) == {message_id: "unknown"}
    (sent,) = live.twilio.sent_to(phone)
    assert sent.form["StatusCallback"] == f"{live.public_url}{STATUS_PATH}?m={message_id}"
    settled = await eventually_async(
        lambda: (m := stored(live, message_id)).status == "delivered" and m, "the callback"
    )
    assert settled.provider_id == sent.sid  # learnt from the report alone
    # Signed over the whole URL, query included: the gateway took every callback.
    await eventually_async(lambda: len(live.twilio.callbacks) == 2, "the last callback's answer")
    assert [answer for _, _, answer in live.twilio.callbacks] == [204, 204]
    # A second job for it (a retried job, a sweep) sends nothing: one message reached them.
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "already delivered"}
    assert len(live.twilio.sent_to(phone)) == 1


async def test_a_send_cut_off_after_meta_took_it_is_settled_by_metas_report(
    live: Live,
) -> None:
    phone = new_phone()
    digits = phone.lstrip("+")
    message_id = await reply_to(live, "whatsapp", AddressKind.WHATSAPP, phone, "تم استلام طلبك")
    live.meta.held.add(digits)
    live.meta.answers.hold()
    live.meta.report_statuses = ("sent", "delivered", "read")

    # The worker dies with the request out: Meta has the message, no answer came back.
    sending = asyncio.create_task(deliver_many(live.runtime, [message_id]))
    await eventually_async(lambda: live.meta.accepted_to(digits), "Meta to take the message")
    sending.cancel()
    with suppress(asyncio.CancelledError):
        await sending
    assert stored(live, message_id).status == "sending"
    # Found by the sweep: unknown, not queued again; a second job finds it taken.
    assert await live.runtime.store.deliveries.strand_in_doubt(timedelta(0)) == [message_id]
    assert stored(live, message_id).status == "unknown"
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "already unknown"}

    live.meta.answers.release()
    settled = await eventually_async(
        lambda: (m := stored(live, message_id)).status == "read" and m, "Meta's reports"
    )
    ((wamid, body),) = live.meta.accepted_to(digits)
    assert body["biz_opaque_callback_data"] == str(message_id)
    assert settled.provider_id == wamid
    await eventually_async(lambda: len(live.meta.reports) == 3, "the last report's answer")
    assert [answer for _, answer in live.meta.reports] == [200, 200, 200]
    assert len(live.meta.accepted_to(digits)) == 1


async def test_each_part_of_a_long_sms_keeps_its_id_and_its_report(live: Live) -> None:
    phone = new_phone()
    text = "\n\n".join(["توزيع السلال الغذائية يوم الخميس في مقر الجمعية" * 10] * 4)
    assert len(text) > 1600  # more than one Messages API request can carry
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, text)
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "sent"}
    first, second = live.twilio.sent_to(phone)
    assert first.form["StatusCallback"].endswith(f"?m={message_id}")
    assert second.form["StatusCallback"].endswith(f"?m={message_id}.1")
    with live.runtime.store.db.sessions() as session:
        parts = session.query(MessagePart.provider_id).filter_by(message_id=message_id).all()
    assert sorted(p for (p,) in parts) == sorted([first.sid, second.sid])

    report = live.twilio.report  # blocks its caller: run it beside the loop serving the app
    assert await asyncio.to_thread(report, first, "delivered") == 204
    assert stored(live, message_id).status == "sent"  # the second part is only sent
    assert await asyncio.to_thread(report, second, "delivered") == 204
    assert stored(live, message_id).status == "delivered"
    assert await asyncio.to_thread(report, second, "undelivered", 30003) == 204
    assert stored(live, message_id).status == "failed"  # not all of it arrived


@pytest.mark.parametrize("live", ["twilio-sms=2"], indirect=True)
async def test_one_persons_messages_keep_their_order_across_delivery_jobs(live: Live) -> None:
    """Three replies go in one job; a fourth, to the same person, comes in a second job while
    the first job's are still waiting for their slots (two SMS a second): it goes last. The
    first job's later messages used to ask for their slots only once the one before was
    sent, so the second job's message took a slot between them."""
    phone = new_phone()
    texts = ["first", "second", "third", "fourth"]
    ids = [await reply_to(live, "twilio", AddressKind.SMS, phone, text) for text in texts]
    first_job = asyncio.create_task(deliver_many(live.runtime, ids[:3]))
    await eventually_async(lambda: live.twilio.sent_to(phone), "the first job's first message")
    second_job = asyncio.create_task(deliver_many(live.runtime, ids[3:]))
    assert await first_job == dict.fromkeys(ids[:3], "sent")
    assert await second_job == {ids[3]: "sent"}
    assert [sent.form["Body"] for sent in live.twilio.sent_to(phone)] == texts


LONG_SMS = "\n\n".join(["توزيع السلال الغذائية يوم الخميس في مقر الجمعية" * 10] * 4)
THREE_PART_SMS = "\n\n".join(["توزيع السلال الغذائية يوم الخميس في مقر الجمعية" * 10] * 7)


def parts_of(live: Live, message_id: int) -> list[tuple[int, str | None, str]]:
    with live.runtime.store.db.sessions() as session:
        rows = session.query(MessagePart).filter_by(message_id=message_id).all()
        return sorted((row.part, row.provider_id, row.status) for row in rows)


async def test_a_retry_sends_only_the_parts_of_a_long_sms_that_did_not_go(live: Live) -> None:
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, LONG_SMS)
    live.twilio.script(phone, Reply(201), Reply(500, code=20500))  # the second part fails
    later = Later()
    outcome = await deliver_many(live.runtime, [message_id], retry_later=later.retry)
    assert outcome == {message_id: "retry in 5 s"} and later.asked == [([message_id], 5)]
    (first,) = live.twilio.sent_to(phone)
    assert stored(live, message_id).status == "queued"
    assert parts_of(live, message_id) == [(0, first.sid, "sent")]
    # The part that went is delivered while the rest waits: its report is kept.
    assert await asyncio.to_thread(live.twilio.report, first, "delivered") == 204

    assert await deliver_many(live.runtime, [message_id]) == {message_id: "sent"}
    first_again, second = live.twilio.sent_to(phone)  # the first part was not sent again
    assert first_again.sid == first.sid and second.body != first.body
    assert second.form["StatusCallback"].endswith(f"?m={message_id}.1")
    assert (first.body + second.body).replace("\n", "") == LONG_SMS.replace("\n", "")
    assert parts_of(live, message_id) == [(0, first.sid, "delivered"), (1, second.sid, "sent")]
    assert stored(live, message_id).status == "sent"
    assert await asyncio.to_thread(live.twilio.report, second, "delivered") == 204
    assert stored(live, message_id).status == "delivered"


async def test_a_long_sms_cut_off_in_doubt_goes_on_once_twilio_reports_that_part(
    live: Live,
) -> None:
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, THREE_PART_SMS)
    live.twilio.script(phone, Reply(201), Reply(201, drop=True))  # the second's answer is lost
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "unknown"}
    first, second = live.twilio.sent_to(phone)
    assert stored(live, message_id).status == "unknown"
    assert parts_of(live, message_id) == [(0, first.sid, "sent"), (1, None, "unknown")]
    # Twilio reports the second part: it had it, so the third never went and goes now.
    assert await asyncio.to_thread(live.twilio.report, second, "delivered") == 204
    assert stored(live, message_id).status == "queued"
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "sent"}
    sent = live.twilio.sent_to(phone)
    assert len(sent) == 3 and sent[2].form["StatusCallback"].endswith(f"?m={message_id}.2")
    assert "".join(s.body for s in sent).replace("\n", "") == THREE_PART_SMS.replace("\n", "")
    assert parts_of(live, message_id) == [
        (0, first.sid, "sent"),
        (1, second.sid, "delivered"),
        (2, sent[2].sid, "sent"),
    ]
    assert stored(live, message_id).status == "sent"


async def test_a_report_that_outruns_the_answer_lost_settles_that_part_and_the_send_goes_on(
    live: Live,
) -> None:
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, THREE_PART_SMS)
    live.twilio.report_statuses = ("sent",)
    # Twilio takes the second part and reports it at once; its answer to us is lost, so the
    # worker records that part in doubt after the report came.
    live.twilio.script(phone, Reply(201), Reply(201, drop=True, report_first=True))
    later = Later()
    outcome = await deliver_many(live.runtime, [message_id], retry_later=later.retry)
    assert outcome == {message_id: "unknown"}
    first, second = live.twilio.sent_to(phone)
    assert parts_of(live, message_id) == [(0, first.sid, "sent"), (1, second.sid, "sent")]
    assert stored(live, message_id).status == "queued"
    assert later.asked == [([message_id], 0)]  # on at once, from the third part
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "sent"}
    sent = live.twilio.sent_to(phone)
    assert len(sent) == 3 and sent[2].form["StatusCallback"].endswith(f"?m={message_id}.2")
    assert "".join(s.body for s in sent).replace("\n", "") == THREE_PART_SMS.replace("\n", "")
    assert stored(live, message_id).status == "sent"


async def test_a_long_sms_whose_second_part_is_refused_stays_failed(live: Live) -> None:
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, LONG_SMS)
    live.twilio.script(phone, Reply(201), Reply(400, code=21211))  # invalid 'To' number
    assert await deliver_many(live.runtime, [message_id]) == {message_id: "failed"}
    (first,) = live.twilio.sent_to(phone)
    assert parts_of(live, message_id) == [(0, first.sid, "sent"), (1, None, "failed")]
    # The first part's delivery report does not make the half-sent message delivered.
    assert await asyncio.to_thread(live.twilio.report, first, "delivered") == 204
    message = stored(live, message_id)
    assert (message.status, message.error_code) == ("failed", "21211")


async def test_metas_retry_after_requeues_the_send_and_pauses_every_workers_budget(
    live: Live,
) -> None:
    phone = new_phone()
    digits = phone.lstrip("+")
    message_id = await reply_to(live, "whatsapp", AddressKind.WHATSAPP, phone, "مرحبا")
    live.meta.throttled[digits] = 1
    live.meta.retry_after = "7"
    later = Later()
    outcome = await deliver_many(live.runtime, [message_id], retry_later=later.retry)
    assert outcome == {message_id: "retry in 7 s"} and later.asked == [([message_id], 7)]
    assert stored(live, message_id).status == "queued"
    await paused(live, "whatsapp", AddressKind.WHATSAPP, 7)


async def test_twilios_429_retry_after_requeues_the_send_and_pauses_the_budget(
    live: Live,
) -> None:
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, "hello")
    live.twilio.script(phone, Reply(429, code=20429, retry_after="5"))
    later = Later()
    outcome = await deliver_many(live.runtime, [message_id], retry_later=later.retry)
    assert outcome == {message_id: "retry in 5 s"} and later.asked == [([message_id], 5)]
    await paused(live, "twilio", AddressKind.SMS, 5)


async def test_a_throttled_broadcast_message_goes_back_as_a_broadcast_delivery(
    live: Live,
) -> None:
    """Tried again later, a broadcast's message is checked again for consent and stop (the
    contact may write STOP meanwhile): it goes back on the bulk queue as a bulk delivery."""
    phone = new_phone()
    message_id = await reply_to(live, "twilio", AddressKind.SMS, phone, "update")
    live.twilio.script(phone, Reply(429, code=20429, retry_after="5"))
    later = Later()
    outcome = await deliver_many(live.runtime, [message_id], bulk=True, retry_later=later.retry)
    assert outcome == {message_id: "retry in 5 s"}
    assert later.asked == [([message_id], 5)] and later.bulk == [True]
    queue = make_queue(REDIS_URL, live.runtime.settings.queue_name)
    enqueue_deliveries(queue, [message_id], delay=5, bulk=True)
    (job_id,) = bulk_queue(queue).scheduled_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=queue.connection, serializer=JSONSerializer)
    assert job.func_name == "worker.jobs.deliver_bulk" and list(job.args) == [message_id]


@dataclass
class Later:
    """What the job layer was asked to send again, and after how long."""

    asked: list[tuple[list[int], int]] = field(default_factory=list)
    bulk: list[bool] = field(default_factory=list)

    async def retry(self, ids: list[int], delay: int, *, bulk: bool = False) -> None:
        self.asked.append((ids, delay))
        self.bulk.append(bulk)


async def paused(live: Live, channel: str, kind: AddressKind, seconds: float) -> None:
    """Another worker's budget (its own client, the same Redis) waits for the pause."""
    settings = live.runtime.settings
    other = SendBudget(live.runtime.redis, parse_limits(""), settings.queue_name)
    asked = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(other.take(channel, kind, new_phone(), "x"), seconds - 2.5)
    assert time.monotonic() - asked >= seconds - 2.5


# -- a real worker process, SIGKILLed with the request out -------------------------------------
def write_sms(gateway: Gateway, phone: str, text: str) -> None:
    """A beneficiary's SMS, posted and signed as Twilio posts it."""
    sid = new_sid("SM")
    url = gateway.url + "/webhooks/twilio"
    form = payload("sms_text", From=phone, Body=text, MessageSid=sid, SmsMessageSid=sid,
                   SmsSid=sid, AccountSid=ACCOUNT_SID)  # fmt: skip
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": sign(url, form)},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200


def sigkill_worker(gateway: Gateway) -> list[int]:
    """SIGKILL the worker; returns its children (rq's scheduler), which outlive it."""
    worker = gateway.worker
    assert worker is not None
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    return [int(pid) for pid in children]


def test_a_killed_workers_send_is_settled_by_twilios_callback_never_resent(
    tmp_path: Path, cipher: Cipher
) -> None:
    fake = FakeTwilio().start()
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_API_BASE": fake.url,
        "TAWASUL_LOG_LEVEL": "WARNING",
    }
    orphans: list[int] = []
    try:
        with gateway(tmp_path, REDIS_URL, env) as live:
            live.start_serve()
            live.start_worker()
            phone = new_phone()
            fake.script(phone, Reply(201, hold=True))
            fake.answers.hold()
            fake.report_statuses = ("sent", "delivered")
            write_sms(live, phone, "مرحبا")
            (sent,) = fake.wait_sent(phone, 1, timeout=60)
            orphans = sigkill_worker(live)  # Twilio has the message; no answer came back
            fake.answers.release()
            engine = make_engine(live.database_url)
            try:
                message = wait_for_row(engine, sent.sid)
                assert message.status == "delivered" and message.direction == "out"
                assert sent.form["StatusCallback"].endswith(f"?m={message.id}")
                live.start_worker()
                # A barrier: someone else's greeting, sent by the new worker after its sweep.
                other = new_phone()
                write_sms(live, other, "مرحبا")
                fake.wait_sent(other, 1, timeout=60)
                assert len(fake.sent_to(phone)) == 1  # one message reached them
                with Session(engine) as session:
                    assert session.get(Message, message.id).status == "delivered"  # type: ignore[union-attr]
            finally:
                engine.dispose()
    finally:
        for pid in orphans:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        fake.stop()


def wait_for_row(engine: Any, provider_id: str, seconds: float = 60.0) -> Message:
    """The outbound message the callbacks settled as delivered (learnt its SID from them)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with Session(engine) as session:
            message = session.scalar(select(Message).where(Message.provider_id == provider_id))
            if message is not None and message.status == "delivered":
                session.expunge(message)
                return message
        time.sleep(0.1)
    raise AssertionError(f"no delivered message with provider id {provider_id}")


def test_retry_after_is_read_in_seconds_or_as_an_http_date_and_capped() -> None:
    from email.utils import format_datetime

    from channels.base import MAX_RETRY_AFTER_SECONDS, retry_after_seconds

    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(" 1.5 ") == 1.5
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_seconds(soon) or 0) <= 31
    assert retry_after_seconds("99999999") == MAX_RETRY_AFTER_SECONDS
    for unreadable in (None, "", "soon", "nan", "-3", "0", "٧", "Wed, 21 Oct 2015 07:28:00 GMT"):
        assert retry_after_seconds(unreadable) is None, unreadable
