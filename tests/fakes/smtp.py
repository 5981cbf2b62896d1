"""A real SMTP server for the email tests: aiosmtpd on a free 127.0.0.1 port, in its own
thread (aiosmtpd's Controller), recording every message it accepts.

`reject` makes it refuse chosen recipients with a given reply (e.g. "550 5.1.1 No such user")
so the channel's error mapping is tested against a real SMTP conversation.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

_PARSER = BytesParser(policy=policy.default)


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message: EmailMessage

    @property
    def text(self) -> str:
        """The text/plain body, decoded."""
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None, "no text/plain part"
        content: str = body.get_content()
        return content.replace("\r\n", "\n").rstrip("\n")

    def header(self, name: str) -> str:
        value = self.message.get(name)
        return "" if value is None else str(value)


class _Handler:
    def __init__(self, server: FakeSmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.server.reject.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content or envelope.content)
        parsed = _PARSER.parsebytes(data)
        assert isinstance(parsed, EmailMessage)
        self.server.record(
            Received(envelope.mail_from, tuple(envelope.rcpt_tos), data, parsed),
        )
        if self.server.drop_after_data & {a.lower() for a in envelope.rcpt_tos}:
            server.transport.close()  # the message is queued; its 250 never gets back
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeSmtpServer:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.reject: dict[str, str] = {}
        self.drop_after_data: set[str] = set()  # recipients whose message's 250 is lost
        self._lock = threading.Lock()
        self.port = _free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> FakeSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def record(self, received: Received) -> None:
        with self._lock:
            self.messages.append(received)

    def received(self, predicate: Callable[[Received], bool] = lambda r: True) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if predicate(m)]

    def to(self, address: str) -> list[Received]:
        """The messages sent to `address`, in order."""
        return self.received(lambda m: address in m.rcpt_tos)

    def wait_for(self, address: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        """Block until `address` has received `count` messages (the worker sends them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages to {address}, got {len(self.to(address))}")
