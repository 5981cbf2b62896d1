"""Inbound path throughput and latency through the web chat API.

Starts a real `tawasul serve` (SQLite under a temporary var/, Redis from TAWASUL_REDIS_URL or
the embedded one, no worker: the path measured ends when the reply is queued) and measures:

- closed loop: `--concurrency` clients, each sending its next message when the last one is
  answered: the most it can do;
- open loop: messages offered at a fixed `--rate` whatever the answers (as real senders do),
  latency counted from when each was due, so a stall is not hidden (coordinated omission);
  both once per number of web processes in `--processes`;
- the same closed loop against a bare aiohttp handler that does nothing, for the ratio.

The load generator shares the machine's cores with the server and Redis, so it speaks bare
HTTP/1.1 to cost little; the CPU each side used is printed beside the figures.

    python bench/inbound.py [--messages 8000] [--concurrency 32] [--processes 1,2]
                            [--rate 1000] [--seconds 10] [--sessions 300] [--texts A,B]
                            [--baseline DIR [--rounds 8]]

With `--baseline DIR` (another checkout, e.g. `git worktree add ../before <commit>`, its
catalogs compiled) both versions serve at once and take turns, round after round, in
alternating order, on the closed loop only: a shared machine's drift then falls on both alike,
and the ratio of their medians says more than two runs minutes apart would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
# Sent in turn; with 300 conversations each conversation always gets the same one, so a third
# of the conversations write free text ("hello", "xyz") at the menu, which the FAQ searches.
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
    server_cores: float | None = None  # CPU the server used, in cores (None: not Linux)
    client_cores: float = 0.0  # CPU this load generator used, in cores


Measured = tuple[float, list[float], int]


def cpu_seconds(pid: int) -> float | None:
    """CPU time used so far by `pid` and its child processes; None without Linux's /proc."""
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            found = True
    return total if found else None


async def measure(name: str, pid: int, work: Awaitable[Measured]) -> Run:
    """Run `work` (a load), noting the CPU the server and this client used meanwhile."""
    server_before, client_before = cpu_seconds(pid), time.process_time()
    started = time.perf_counter()
    rate, latencies, errors = await work
    elapsed = time.perf_counter() - started
    server_after = cpu_seconds(pid)
    server = None
    if server_before is not None and server_after is not None:
        server = (server_after - server_before) / elapsed
    client = (time.process_time() - client_before) / elapsed
    return Run(name, rate, latencies, errors, server, client)


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


class Connections:
    """Keep-alive HTTP/1.1 connections speaking just enough HTTP to post JSON and read the
    status: the load generator shares the machine's two cores with the server, so it should
    cost as little as it can (aiohttp's client costs about three times more per request).
    """

    def __init__(self, base: str) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: list[asyncio.StreamWriter] = []

    async def post(self, path: str, body: bytes) -> int:
        """POST `body` as JSON; returns the response's status."""
        if self._idle:
            reader, writer = self._idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._open.append(writer)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        response = await reader.readuntil(b"\r\n\r\n")
        status = int(response[9:12])
        length = 0
        for line in response.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        self._idle.append((reader, writer))
        return status

    async def close(self) -> None:
        for writer in self._open:
            writer.close()


async def load(
    base: str, messages: int, concurrency: int, sessions: list[str]
) -> tuple[float, list[float], int]:
    """Send `messages` messages over `concurrency` connections; returns rate, latencies, errors."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(messages))
    connections = Connections(base)

    async def client() -> None:
        nonlocal errors
        for n in counter:
            started = time.perf_counter()
            if not await post(connections, n, sessions):
                errors += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await connections.close()
    return messages / elapsed, latencies, errors


async def post(connections: Connections, n: int, sessions: list[str]) -> bool:
    body = {
        "session": sessions[n % len(sessions)],
        "text": TEXTS[n % len(TEXTS)],
        "client_id": uuid.uuid4().hex,
    }
    status = await connections.post("/chat/api/messages", json.dumps(body).encode())
    return status == 202


async def offer(
    base: str, rate: float, seconds: float, sessions: list[str]
) -> tuple[float, list[float], int]:
    """Send `rate` messages a second for `seconds`, each at its due time, answered or not."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    connections = Connections(base)

    async def one(n: int, due: float) -> None:
        nonlocal errors
        if not await post(connections, n, sessions):
            errors += 1
        latencies.append(time.perf_counter() - due)

    started = time.perf_counter()
    sending: list[asyncio.Task[None]] = []
    while len(sending) < total:
        due_now = min(total, int((time.perf_counter() - started) * rate) + 1)
        while len(sending) < due_now:
            n = len(sending)
            sending.append(asyncio.create_task(one(n, started + n / rate)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*sending)
    elapsed = time.perf_counter() - started
    await connections.close()
    return total / elapsed, latencies, errors


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


async def wait_listening(port: int, processes: int, within: float = 30.0) -> None:
    """Wait until every web process listens on `port`: a connection made before one of them
    is up always goes to the others, and a closed loop would measure fewer processes."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():  # not Linux: give them time
        await asyncio.sleep(5)
        return
    suffix = f":{port:04X}"  # local address column, e.g. 0100007F:1F90; state 0A is LISTEN
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = [
            line.split()
            for table in tables
            if table.exists()
            for line in table.read_text().splitlines()[1:]
        ]
        listening = sum(1 for row in rows if row[1].endswith(suffix) and row[3] == "0A")
        if listening >= processes:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"only some of the {processes} web processes listen on {port}")


async def new_sessions(base: str, count: int) -> list[str]:
    async with aiohttp.ClientSession() as http:
        tokens = []
        for _ in range(count):
            async with http.post(f"{base}/chat/api/session") as response:
                tokens.append((await response.json())["session"])
        return tokens


async def measure_gateway(
    args: argparse.Namespace, base: str, processes: int, pid: int
) -> list[Run]:
    await wait_ready(f"{base}/chat/api/messages")
    await wait_listening(int(urlsplit(base).port or 80), processes)
    sessions = await new_sessions(base, args.sessions)
    await load(base, min(1000, args.messages), args.concurrency, sessions)  # warm-up
    label = f"tawasul, {processes} web process{'es' if processes > 1 else ''}"
    closed = await measure(
        f"{label}, closed loop", pid, load(base, args.messages, args.concurrency, sessions)
    )
    opened = await measure(
        f"{label}, {args.rate:.0f}/s offered", pid, offer(base, args.rate, args.seconds, sessions)
    )
    return [closed, opened]


async def measure_bare(args: argparse.Namespace, base: str, pid: int) -> Run:
    await wait_ready(f"{base}/chat/api/messages")
    sessions = ["unused"]
    await load(base, min(1000, args.messages), args.concurrency, sessions)
    closed = load(base, args.messages, args.concurrency, sessions)
    return await measure("bare aiohttp, closed loop", pid, closed)


def gateway_env() -> dict[str, str]:
    var_dir = Path(tempfile.mkdtemp(prefix="tawasul-bench-")) / "var"
    env = {
        **os.environ,
        "TAWASUL_VAR_DIR": str(var_dir),
        "TAWASUL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
        "TAWASUL_LOG_LEVEL": "WARNING",
        # Every simulated beneficiary posts from this one address: the per-address flood limits
        # would measure themselves, not the inbound path.
        "TAWASUL_RATE_LIMITS": os.environ.get("TAWASUL_RATE_LIMITS", "off"),
        "TAWASUL_SECRET_KEY": os.environ.get("TAWASUL_SECRET_KEY", "bench-secret-key-0123456789"),
    }
    env.pop("TAWASUL_DATABASE_URL", None)
    return env


def cli_of(root: Path) -> list[str]:
    """The command line of the checkout at `root` (before issue 9 the CLI was `bot.cli`)."""
    module = "bot.app.cli" if (root / "bot" / "app" / "cli.py").exists() else "bot.cli"
    return [sys.executable, "-m", module]


def start_gateway(root: Path, processes: int) -> tuple[subprocess.Popen[bytes], str]:
    """A fresh database and server, so runs do not inherit each other's data."""
    env = gateway_env()
    cli = cli_of(root)
    subprocess.run([*cli, "migrate"], env=env, cwd=root, check=True, capture_output=True)
    port = free_port()
    serve = [*cli, "serve", "--port", str(port), "--no-worker", "--processes", str(processes)]
    return subprocess.Popen(serve, env=env, cwd=root), f"http://127.0.0.1:{port}"


def stop(gateway: subprocess.Popen[bytes]) -> None:
    gateway.terminate()
    gateway.wait(timeout=15)


def run_gateway(args: argparse.Namespace, processes: int) -> list[Run]:
    gateway, base = start_gateway(ROOT, processes)
    try:
        return asyncio.run(measure_gateway(args, base, processes, gateway.pid))
    finally:
        stop(gateway)


def run_bare(args: argparse.Namespace) -> Run:
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    try:
        return asyncio.run(measure_bare(args, f"http://127.0.0.1:{port}", bare.pid))
    finally:
        bare.terminate()
        bare.wait(timeout=15)


def run(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.processes.split(",")]
    runs: list[Run] = []
    for processes in counts:
        runs += run_gateway(args, processes)
    bare = run_bare(args)
    runs.append(bare)

    redis = os.environ.get("TAWASUL_REDIS_URL") or "embedded Redis"
    print(
        f"inbound path (request in -> reply queued), {os.cpu_count()} cores, SQLite + {redis}; "
        f"closed loop: {args.messages} messages from {args.concurrency} clients; "
        f"open loop: {args.seconds:.0f} s; {args.sessions} conversations"
    )
    print(
        f"{'':42} {'msg/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'errors':>6} "
        f"{'server cores':>12} {'load cores':>10}"
    )
    for item in runs:
        server = "-" if item.server_cores is None else f"{item.server_cores:.2f}"
        print(
            f"{item.name:42} {item.rate:7.0f} {percentile(item.latencies, 0.50):7.1f} "
            f"{percentile(item.latencies, 0.99):7.1f} "
            f"{statistics.mean(item.latencies) * 1000:8.1f} {item.errors:6d} "
            f"{server:>12} {item.client_cores:10.2f}"
        )
    best = max(item.rate for item in runs if "closed" in item.name and item is not bare)
    print(f"ratio best tawasul closed loop / bare aiohttp: {best / bare.rate:.3f}")


async def take_turns(
    args: argparse.Namespace, gateways: list[tuple[str, str, int]], processes: int
) -> dict[str, list[Run]]:
    """Closed loops on each gateway (name, base, pid) in turn, the order alternating by round."""
    sessions: dict[str, list[str]] = {}
    for name, base, _ in gateways:
        await wait_ready(f"{base}/chat/api/messages")
        await wait_listening(int(urlsplit(base).port or 80), processes)
        sessions[name] = await new_sessions(base, args.sessions)
        await load(base, min(1000, args.messages), args.concurrency, sessions[name])  # warm-up
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in gateways}
    for round_ in range(args.rounds):
        order = gateways if round_ % 2 == 0 else gateways[::-1]
        for name, base, pid in order:
            work = load(base, args.messages, args.concurrency, sessions[name])
            found = await measure(name, pid, work)
            runs[name].append(found)
            print(
                f"round {round_ + 1:>2}  {name:<8} {found.rate:7.0f} msg/s  "
                f"{server_us(found):6.0f} server us/msg",
                flush=True,
            )
    return runs


def server_us(found: Run) -> float:
    """Server CPU per message in microseconds (0 without Linux's /proc)."""
    return (found.server_cores or 0.0) / found.rate * 1e6


def run_paired(args: argparse.Namespace) -> None:
    baseline = args.baseline.resolve()
    for processes in (int(n) for n in args.processes.split(",")):
        print(
            f"this checkout against {baseline}, {processes} web process(es), "
            f"{args.rounds} rounds of {args.messages} messages from {args.concurrency} clients"
        )
        started = [
            ("this", *start_gateway(ROOT, processes)),
            ("baseline", *start_gateway(baseline, processes)),
        ]
        try:
            gateways = [(name, base, gateway.pid) for name, gateway, base in started]
            runs = asyncio.run(take_turns(args, gateways, processes))
        finally:
            for _, gateway, _ in started:
                stop(gateway)
        rates = {name: statistics.median(r.rate for r in found) for name, found in runs.items()}
        cpu = {name: statistics.median(server_us(r) for r in found) for name, found in runs.items()}
        ratios = [a.rate / b.rate for a, b in zip(runs["this"], runs["baseline"], strict=True)]
        for name in runs:
            print(f"median    {name:<8} {rates[name]:7.0f} msg/s  {cpu[name]:6.0f} server us/msg")
        print(
            f"this / baseline: {rates['this'] / rates['baseline']:.3f} msg/s "
            f"(rounds {min(ratios):.3f}-{max(ratios):.3f}), "
            f"{cpu['this'] / cpu['baseline']:.3f} server CPU per message"
        )


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
    parser.add_argument(
        "--texts",
        default=",".join(TEXTS),
        help="the messages sent in turn, comma-separated (to compare versions on one journey)",
    )
    parser.add_argument(
        "--baseline", type=Path, help="another checkout, measured in turns with this one"
    )
    parser.add_argument("--rounds", type=int, default=8, help="turns each, with --baseline")
    args = parser.parse_args()
    TEXTS[:] = args.texts.split(",")  # read by post()
    if args.baseline:
        run_paired(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
