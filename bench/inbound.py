"""Inbound path throughput and latency through the web chat API.

Starts a real `tawasul serve` (SQLite under a temporary var/, Redis from TAWASUL_REDIS_URL or
the embedded one, no worker: the path measured ends when the reply is queued) and measures:

- closed loop: `--concurrency` clients, each sending its next message when the last one is
  answered, once per number of web processes in `--processes`: the most it can do;
- open loop: messages offered at a fixed `--rate` whatever the answers (as real senders do),
  latency counted from when each was due, so a stall is not hidden (coordinated omission);
- the same closed loop against a bare aiohttp handler that does nothing, for the ratio.

Client and server share the machine's cores, so the figures are conservative.

    python bench/inbound.py [--messages 8000] [--concurrency 32] [--processes 1,2]
                            [--rate 1000] [--seconds 10] [--sessions 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["مرحبا", "٢", "hello", "3", "القائمة", "xyz"]

BARE_SERVER = """
import sys
from aiohttp import web

async def handle(request):
    await request.read()
    return web.json_response({"ok": True}, status=202)

app = web.Application()
app.router.add_post("/chat/api/messages", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


@dataclass
class Run:
    name: str
    rate: float
    latencies: list[float]
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.post(url, data=b"{}") as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def load(
    base: str, messages: int, concurrency: int, sessions: list[str]
) -> tuple[float, list[float], int]:
    """Send `messages` messages over `concurrency` connections; returns rate, latencies, errors."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(messages))

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for n in counter:
            started = time.perf_counter()
            if not await post(http, base, n, sessions):
                errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return messages / elapsed, latencies, errors


async def post(http: aiohttp.ClientSession, base: str, n: int, sessions: list[str]) -> bool:
    body = {
        "session": sessions[n % len(sessions)],
        "text": TEXTS[n % len(TEXTS)],
        "client_id": uuid.uuid4().hex,
    }
    async with http.post(f"{base}/chat/api/messages", json=body) as response:
        await response.read()
        return response.status == 202


async def offer(
    base: str, rate: float, seconds: float, sessions: list[str]
) -> tuple[float, list[float], int]:
    """Send `rate` messages a second for `seconds`, each at its due time, answered or not."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)

    async def one(http: aiohttp.ClientSession, n: int, due: float) -> None:
        nonlocal errors
        if not await post(http, base, n, sessions):
            errors += 1
        latencies.append(time.perf_counter() - due)

    connector = aiohttp.TCPConnector(limit=1024)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        sending: list[asyncio.Task[None]] = []
        while len(sending) < total:
            due_now = min(total, int((time.perf_counter() - started) * rate) + 1)
            while len(sending) < due_now:
                n = len(sending)
                sending.append(asyncio.create_task(one(http, n, started + n / rate)))
            await asyncio.sleep(0.001)
        await asyncio.gather(*sending)
        elapsed = time.perf_counter() - started
    return total / elapsed, latencies, errors


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def new_sessions(base: str, count: int) -> list[str]:
    async with aiohttp.ClientSession() as http:
        tokens = []
        for _ in range(count):
            async with http.post(f"{base}/chat/api/session") as response:
                tokens.append((await response.json())["session"])
        return tokens


async def measure_gateway(
    args: argparse.Namespace, base: str, processes: int, open_loop: bool
) -> list[Run]:
    await wait_ready(f"{base}/chat/api/messages")
    sessions = await new_sessions(base, args.sessions)
    await load(base, min(1000, args.messages), args.concurrency, sessions)  # warm-up
    label = f"tawasul, {processes} web process{'es' if processes > 1 else ''}"
    rate, latencies, errors = await load(base, args.messages, args.concurrency, sessions)
    runs = [Run(f"{label}, closed loop", rate, latencies, errors)]
    if open_loop:
        rate, latencies, errors = await offer(base, args.rate, args.seconds, sessions)
        runs.append(Run(f"{label}, {args.rate:.0f}/s offered", rate, latencies, errors))
    return runs


async def measure_bare(args: argparse.Namespace, base: str) -> Run:
    await wait_ready(f"{base}/chat/api/messages")
    sessions = ["unused"]
    await load(base, min(1000, args.messages), args.concurrency, sessions)
    rate, latencies, errors = await load(base, args.messages, args.concurrency, sessions)
    return Run("bare aiohttp, closed loop", rate, latencies, errors)


def gateway_env() -> dict[str, str]:
    var_dir = Path(tempfile.mkdtemp(prefix="tawasul-bench-")) / "var"
    env = {
        **os.environ,
        "TAWASUL_VAR_DIR": str(var_dir),
        "TAWASUL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "TAWASUL_LOG_LEVEL": "WARNING",
        "TAWASUL_SECRET_KEY": os.environ.get("TAWASUL_SECRET_KEY", "bench-secret-key-0123456789"),
    }
    env.pop("TAWASUL_DATABASE_URL", None)
    return env


def run_gateway(args: argparse.Namespace, processes: int, open_loop: bool) -> list[Run]:
    """A fresh database and server per configuration, so runs do not inherit each other's
    data."""
    env = gateway_env()
    cli = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    port = free_port()
    serve = [*cli, "serve", "--port", str(port), "--no-worker", "--processes", str(processes)]
    gateway = subprocess.Popen(serve, env=env, cwd=ROOT)
    try:
        return asyncio.run(measure_gateway(args, f"http://127.0.0.1:{port}", processes, open_loop))
    finally:
        gateway.terminate()
        gateway.wait(timeout=15)


def run_bare(args: argparse.Namespace) -> Run:
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    try:
        return asyncio.run(measure_bare(args, f"http://127.0.0.1:{port}"))
    finally:
        bare.terminate()
        bare.wait(timeout=15)


def run(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.processes.split(",")]
    runs: list[Run] = []
    for processes in counts:
        runs += run_gateway(args, processes, open_loop=processes == max(counts))
    bare = run_bare(args)
    runs.append(bare)

    redis = os.environ.get("TAWASUL_REDIS_URL") or "embedded Redis"
    print(
        f"inbound path (request in -> reply queued), {os.cpu_count()} cores, SQLite + {redis}; "
        f"closed loop: {args.messages} messages from {args.concurrency} clients; "
        f"open loop: {args.seconds:.0f} s; {args.sessions} conversations"
    )
    print(f"{'':42} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'errors':>6}")
    for item in runs:
        print(
            f"{item.name:42} {item.rate:7.0f} {percentile(item.latencies, 0.50):7.1f} "
            f"{percentile(item.latencies, 0.99):7.1f} "
            f"{statistics.mean(item.latencies) * 1000:8.1f} {item.errors:6d}"
        )
    best = max(item.rate for item in runs if "closed" in item.name and item is not bare)
    print(f"ratio best tawasul closed loop / bare aiohttp: {best / bare.rate:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument(
        "--processes", default="1,2", help="web process counts to measure, comma-separated"
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="open-loop messages/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="open-loop duration")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
