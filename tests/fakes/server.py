"""A base for fake provider APIs: a real aiohttp server on 127.0.0.1, in its own thread (so
gateway subprocesses and synchronous test code can both reach it), recording every request.

Subclasses add routes in `routes()` that answer like the provider and call `self.record(...)`.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web


@dataclass
class Recorded:
    """One request the fake received, decoded for assertions."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    json: Any = None
    peer: Any = None  # the client's (host, port): one connection, one port


class MediaGate:
    """How a fake serves inbound media downloads: at once, held until the test releases
    them, or failing a number of times. Driven from the test's thread, obeyed on the fake's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._failures: int | None = 0  # None: every download fails
        self._status = 503
        self.waiting = 0  # downloads being held right now
        self.served = 0  # downloads answered, failed ones included

    def hold(self) -> None:
        with self._lock:
            self._held = True

    def release(self) -> None:
        with self._lock:
            self._held = False

    def fail(self, times: int | None, status: int = 503) -> None:
        """The next `times` downloads answer `status` (None: all of them, until reset)."""
        with self._lock:
            self._failures, self._status = times, status

    def reset(self) -> None:
        """Serve at once again, and count from zero."""
        with self._lock:
            self._held, self._failures, self._status = False, 0, 503
            self.served = 0

    def wait_until(self, predicate: Callable[[MediaGate], bool], timeout: float = 30.0) -> None:
        """Block the test until the gate's counters say so (a download arrived, N served)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self):
                    return
            time.sleep(0.02)
        raise AssertionError(f"media gate: waiting={self.waiting} served={self.served}")

    async def passage(self) -> int | None:
        """Called by a download route: waits while held; the error status to answer with, or
        None to serve the file."""
        with self._lock:
            self.waiting += 1
        try:
            while True:
                with self._lock:
                    if not self._held:
                        break
                await asyncio.sleep(0.01)
        finally:
            with self._lock:
                self.waiting -= 1
        with self._lock:
            self.served += 1
            if self._failures is None:
                return self._status
            if self._failures > 0:
                self._failures -= 1
                return self._status
        return None


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    # -- for subclasses ---------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        raise NotImplementedError

    async def record(self, request: web.Request) -> Recorded:
        body = await request.read()
        form: dict[str, str] = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = {k: str(v) for k, v in (await request.post()).items()}
        parsed: Any = None
        if request.content_type == "application/json" and body:
            parsed = await request.json()
        entry = Recorded(
            request.method,
            request.path,
            dict(request.headers),
            dict(request.query),
            body,
            form,
            parsed,
            request.transport.get_extra_info("peername") if request.transport else None,
        )
        with self._lock:
            self.requests.append(entry)
        return entry

    # -- for tests --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def received(self, predicate: Callable[[Recorded], bool] = lambda r: True) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if predicate(r)]

    def wait_for(
        self, predicate: Callable[[Recorded], bool], count: int = 1, timeout: float = 10.0
    ) -> list[Recorded]:
        """Block until `count` matching requests arrived (the worker sends asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.received(predicate)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {self.received(predicate)}")


def post_status(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST raw bytes and return only the HTTP status, from synchronous test code (hypothesis
    examples): what a provider's retry logic would see."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class _Startable(Protocol):
    def start(self) -> Any: ...

    def stop(self) -> None: ...


Started = TypeVar("Started", bound=_Startable)


@contextmanager
def running(server: Started) -> Iterator[Started]:
    """`server` (any fake provider: this module's, SMTP, S3) started, and stopped after use."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
