"""Outbound throughput: a broadcast through real `tawasul worker` processes to a fake Twilio
API answering after a fixed delay, with rate limits off (issue 14).

For each provider delay (`--delays`, ms) and number of workers (`--workers`) it seeds a
fresh SQLite database with `--recipients` consenting contacts, creates a broadcast with
`tawasul broadcast create --yes`, and measures messages/s at the fake (first to last
request), each worker's peak RSS (VmHWM), the workers' CPU time per message sent (steadier
than the rate on a busy machine), and the time to the fake of replies queued every 200 ms
during the broadcast (p50/p99). Beside it, in the same run, a bare aiohttp client posting
the same number of requests to the same fake with 100 in flight: the ratio says how much of
the ceiling is the fake and the machine rather than the gateway. The fake runs in a process
of its own, as the provider would, so that it shares an interpreter lock with no one.

    TAWASUL_REDIS_URL=redis://127.0.0.1:6379/N python bench/outbound.py \\
        [--recipients 3000] [--delays 0,100,300] [--workers 1,2] [--baseline ../main-copy]

With `--baseline DIR` each row is measured also with the code of another checkout (the
workers run from DIR), one after the other against the same fake in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.crypto import Cipher, use_cipher  # noqa: E402
from bot.db import make_engine  # noqa: E402
from bot.tables import Broadcast, ContactAddress, Conversation, Message  # noqa: E402
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: E402
from tests.test_broadcast import seed  # noqa: E402

SECRET_KEY = "bench-secret-key-not-for-production"
CLI = [sys.executable, "-m", "bot.app.cli"]


class SlowTwilio(FakeTwilio):
    """The fake Twilio Messages API, lean: waits `delay` seconds, answers, notes when. It runs
    in a process of its own (`--serve-fake`, on uvloop), so that neither it nor the bench's
    bare client shares an interpreter lock with the other: in one process the two together
    reached 2,300 requests/s, which was the process's ceiling, not the fake's."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0
        self.arrivals: list[tuple[float, str]] = []

    def routes(self) -> list[web.RouteDef]:
        return [
            *super().routes(),
            web.get("/bench/arrivals", self._arrivals),
            web.get("/bench/count", self._count),
            web.post("/bench/reset", self._reset),
        ]

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 20003)
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.arrivals.append((time.monotonic(), form.get("To", "")))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response(self._resource(form, []), status=201)

    async def _arrivals(self, request: web.Request) -> web.Response:
        """Since the `from`th: monotonic times are the machine's, comparable across processes."""
        return web.json_response(self.arrivals[int(request.query.get("from", "0")) :])

    async def _count(self, _request: web.Request) -> web.Response:
        return web.json_response(len(self.arrivals))

    async def _reset(self, request: web.Request) -> web.Response:
        self.delay = float(request.query["delay"])
        self.arrivals.clear()
        return web.json_response({})


class FakeProcess:
    """The bench's handle on the fake in its own process."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.delay = 0.0  # seconds, from the next `reset`

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def reset(self) -> None:
        """Forget the arrivals so far; answer after `delay` from now on."""
        self._call("POST", f"/bench/reset?delay={self.delay}")

    def count(self) -> int:
        return int(self._call("GET", "/bench/count"))

    def arrivals(self, since: int = 0) -> list[tuple[float, str]]:
        return [(at, to) for at, to in self._call("GET", f"/bench/arrivals?from={since}")]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


def serve_fake() -> None:
    """`--serve-fake`: the fake alone in this process, its address printed on stdout."""
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the fake's loop is made anew
    fake = SlowTwilio().start()
    print(fake.url, flush=True)
    threading.Event().wait()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def queue_reply(database_url: str, redis_url: str, queue: str, cipher: Cipher, phone: str) -> None:
    """A reply to a waiting beneficiary, stored and queued as the web process does (its
    engine, waiting for the SQLite lock as the web process's does)."""
    from worker.queues import enqueue_deliveries, make_queue

    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():
        address_id, conversation_id = session.execute(
            select(ContactAddress.id, Conversation.id)
            .join(Conversation, Conversation.contact_id == ContactAddress.contact_id)
            .where(ContactAddress.address_hash == cipher.lookup_hash(phone))
        ).one()
        now = datetime.now(UTC)
        message_id = session.scalar(
            insert(Message)
            .values(
                conversation_id=conversation_id,
                address_id=address_id,
                direction="out",
                channel="twilio",
                body="reply",
                payload={"text": "reply", "buttons": [], "media": [], "template": None},
                status="queued",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .returning(Message.id)
        )
    engine.dispose()
    enqueue_deliveries(make_queue(redis_url, queue), [int(message_id or 0)])


def one_run(
    fake: FakeProcess, redis_url: str, recipients: int, workers: int, root: Path = ROOT
) -> dict[str, float]:
    """One broadcast through `workers` workers running the code at `root` (this checkout,
    or another one to compare with: same tables, same fake)."""
    cipher = Cipher(SECRET_KEY)
    use_cipher(cipher)
    with tempfile.TemporaryDirectory() as directory:
        var_dir = Path(directory) / "var"
        database_url = f"sqlite:///{var_dir / 'tawasul.db'}"
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "TAWASUL_VAR_DIR": str(var_dir),
            "TAWASUL_DATABASE_URL": database_url,
            "TAWASUL_REDIS_URL": redis_url,
            "TAWASUL_SECRET_KEY": SECRET_KEY,
            "TAWASUL_PROFILE": str(root / "profiles" / "example.yaml"),
            "TAWASUL_QUEUE": queue,
            "TAWASUL_RATE_LIMITS": "off",
            "TAWASUL_LOG_LEVEL": "WARNING",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_SMS_FROM": "+12025550143",
            "TWILIO_API_BASE": fake.url,
        }
        subprocess.run([*CLI, "migrate"], env=env, check=True, cwd=root, capture_output=True)
        phones = seed(database_url, cipher, [True] * recipients)
        waiting = seed(database_url, cipher, [None] * 100)  # they get replies, not the update
        procs = [
            subprocess.Popen([*CLI, "worker"], env=env, cwd=root, stderr=subprocess.DEVNULL)
            for _ in range(workers)
        ]
        try:
            time.sleep(3)  # the workers start (imports, connections)
            fake.reset()
            cpu_before = sum(cpu_seconds(proc.pid) for proc in procs)
            created = subprocess.run(
                [*CLI, "broadcast", "create", "--text-ar", "Ramadan", "--text-en", "Ramadan",
                 "--yes"],
                env=env, cwd=root, capture_output=True, text=True, check=True,
            )  # fmt: skip
            broadcast_id = int(
                next(line for line in created.stdout.splitlines() if "created" in line).split()[1]
            )
            asked: dict[str, float] = {}
            engine = create_engine(database_url)
            wanted = set(phones)
            while True:
                with Session(engine) as session:
                    status = session.scalar(
                        select(Broadcast.status).where(Broadcast.id == broadcast_id)
                    )
                if status == "done":
                    break
                if len(asked) < len(waiting) and fake.count() > 50:
                    phone = waiting[len(asked)]
                    asked[phone] = time.monotonic()
                    queue_reply(database_url, redis_url, queue, cipher, phone)
                time.sleep(0.2)
            engine.dispose()
            rss = [peak_rss_mb(proc.pid) for proc in procs]
            cpu = sum(cpu_seconds(proc.pid) for proc in procs) - cpu_before
            arrivals = fake.arrivals()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    bulk = [at for at, to in arrivals if to in wanted]
    reached = {to: at for at, to in arrivals if to in asked}
    latencies = sorted(reached[phone] - asked[phone] for phone in asked if phone in reached)
    span = max(bulk) - min(bulk) if len(bulk) > 1 else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
    return {
        "rate": len(bulk) / span,
        "sent": len(bulk),
        "rss": max(rss),
        "cpu_us": cpu / max(len(bulk), 1) * 1e6,
        "reply_p50": statistics.median(latencies) if latencies else float("nan"),
        "reply_p99": p99,
        "replies": len(latencies),
    }


async def bare_client(url: str, requests: int, in_flight: int = 100) -> float:
    """Requests/s a bare aiohttp client gets from the same fake (the ceiling)."""
    gate = asyncio.Semaphore(in_flight)
    endpoint = f"{url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    form = {"To": "+966500000000", "From": "+12025550143", "Body": "Ramadan"}
    auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
    async with aiohttp.ClientSession(headers=auth) as http:

        async def one() -> None:
            async with gate, http.post(endpoint, data=form) as response:
                await response.read()

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--delays", default="0,100,300")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. a worktree of main) run beside this one, row by row",
    )
    args = parser.parse_args()
    if args.serve_fake:
        return serve_fake()
    redis_url = os.environ.get("TAWASUL_REDIS_URL")
    if not redis_url:
        sys.exit("set TAWASUL_REDIS_URL (a database the benchmark may fill)")
    fake = FakeProcess()
    print(f"{args.recipients} recipients, limits off, SQLite; 100 replies queued during each")
    print("bare/s: a bare aiohttp client with 100 (and 400) requests in flight; ratio to bare/s")
    print(
        "code      delay  workers  msg/s   bare/s  bare400/s  ratio  peak RSS MB  "
        "reply p50 s  reply p99 s  worker CPU us/msg"
    )
    codes = [("this", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    try:
        for delay_ms in (int(d) for d in args.delays.split(",")):
            fake.delay = delay_ms / 1000
            fake.reset()
            bare = asyncio.run(bare_client(fake.url, args.recipients))
            bare400 = asyncio.run(bare_client(fake.url, args.recipients, in_flight=400))
            for workers in (int(w) for w in args.workers.split(",")):
                for code, root in codes:
                    found = one_run(fake, redis_url, args.recipients, workers, root)
                    print(
                        f"{code:<8}  {delay_ms:>4}ms  {workers:>7}  {found['rate']:>6.0f}  "
                        f"{bare:>7.0f}  {bare400:>9.0f}  {found['rate'] / bare:>5.2f}  "
                        f"{found['rss']:>11.0f}  {found['reply_p50']:>11.2f}  "
                        f"{found['reply_p99']:>11.2f}  {found['cpu_us']:>17.0f}",
                        flush=True,
                    )
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
