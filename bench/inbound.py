"""Inbound path throughput and latency through the web chat API.

Starts a real `tawasul serve` (SQLite under a temporary var/, Redis from TAWASUL_REDIS_URL or
the embedded one, no worker: the path measured ends when the reply is queued), drives it with
concurrent clients, then does the same against a bare aiohttp handler that does nothing, on
the same machine, and prints both with their ratio. Client and server share the machine's
cores, so the figures are conservative.

    python bench/inbound.py [--messages 6000] [--concurrency 32] [--sessions 300]
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
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent

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
    texts = ["مرحبا", "٢", "hello", "3", "القائمة", "xyz"]

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal errors
        for n in counter:
            body = {
                "session": sessions[n % len(sessions)],
                "text": texts[n % len(texts)],
                "client_id": uuid.uuid4().hex,
            }
            started = time.perf_counter()
            async with http.post(f"{base}/chat/api/messages", json=body) as response:
                await response.read()
                if response.status != 202:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return messages / elapsed, latencies, errors


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


async def measure(args: argparse.Namespace, base: str, bare: str) -> list[tuple]:
    await wait_ready(f"{base}/chat/api/messages")
    await wait_ready(f"{bare}/chat/api/messages")
    sessions = await new_sessions(base, args.sessions)
    await load(base, min(1000, args.messages), args.concurrency, sessions)  # warm-up
    rows = []
    for name, url in (("tawasul web chat", base), ("bare aiohttp", bare)):
        rate, latencies, errors = await load(url, args.messages, args.concurrency, sessions)
        rows.append((name, rate, latencies, errors))
    return rows


def run(args: argparse.Namespace) -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="tawasul-bench-")) / "var"
    env = {
        **os.environ,
        "TAWASUL_VAR_DIR": str(var_dir),
        "TAWASUL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "TAWASUL_LOG_LEVEL": "WARNING",
        "TAWASUL_SECRET_KEY": os.environ.get("TAWASUL_SECRET_KEY", "bench-secret-key-0123456789"),
    }
    env.pop("TAWASUL_DATABASE_URL", None)
    cli = [sys.executable, "-m", "bot.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=ROOT, check=True, capture_output=True)
    port, bare_port = free_port(), free_port()
    gateway = subprocess.Popen(
        [*cli, "serve", "--port", str(port), "--no-worker", "--processes", str(args.processes)],
        env=env,
        cwd=ROOT,
    )
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(bare_port)])
    try:
        rows = asyncio.run(
            measure(args, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}")
        )
    finally:
        for process in (gateway, bare):
            process.terminate()
            process.wait(timeout=15)

    redis = os.environ.get("TAWASUL_REDIS_URL") or "embedded Redis"
    print(
        f"inbound path (request in -> reply queued): {args.messages} messages, "
        f"{args.concurrency} concurrent clients, {args.sessions} conversations, "
        f"{args.processes} web process(es), {os.cpu_count()} cores, SQLite + {redis}"
    )
    print(f"{'':20} {'msg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'errors':>7}")
    for name, rate, latencies, errors in rows:
        print(
            f"{name:20} {rate:9.0f} {percentile(latencies, 0.50):8.2f} "
            f"{percentile(latencies, 0.99):8.2f} {statistics.mean(latencies) * 1000:8.2f} "
            f"{errors:7d}"
        )
    (_, ours, _, _), (_, theirs, _, _) = rows
    print(f"ratio tawasul / bare aiohttp throughput: {ours / theirs:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--processes", type=int, default=1, help="web processes to serve with")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
