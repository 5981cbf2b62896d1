"""A small web-chat API client for tests: what the page's JavaScript does, in Python."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass
class ChatClient:
    http: aiohttp.ClientSession
    base_url: str
    session: str = ""
    cursor: str = "0-0"
    transcript: list[dict[str, Any]] = field(default_factory=list)

    async def start(self) -> ChatClient:
        async with self.http.post(f"{self.base_url}/chat/api/session") as response:
            assert response.status == 201
            self.session = (await response.json())["session"]
        return self

    async def post(
        self, text: str, button_id: str | None = None, client_id: str | None = None
    ) -> aiohttp.ClientResponse:
        body = {"session": self.session, "text": text, "client_id": client_id or uuid.uuid4().hex}
        if button_id:
            body["button_id"] = button_id
        async with self.http.post(f"{self.base_url}/chat/api/messages", json=body) as response:
            await response.read()
            return response

    async def replies(self, count: int = 1, within: float = 10.0) -> list[dict[str, Any]]:
        """Wait for `count` new bot replies (long-polling as the page does)."""
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while len(received) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"expected {count} replies, got {received}")
            params = {"session": self.session, "after": self.cursor, "wait": str(min(remaining, 5))}
            async with self.http.get(f"{self.base_url}/chat/api/messages", params=params) as r:
                assert r.status == 200, await r.text()
                data = await r.json()
            received.extend(data["messages"])
            self.cursor = data["cursor"]
        self.transcript.extend(received)
        return received

    async def say(self, text: str, button_id: str | None = None) -> dict[str, Any]:
        """Send one message and return the single reply it gets."""
        response = await self.post(text, button_id)
        assert response.status == 202
        (reply,) = await self.replies(1)
        return reply

    async def quiet(self) -> None:
        """Assert that no further reply arrives. A barrier, not a sleep: the gateway's one
        worker sends replies in the order they were queued, so once a newcomer's greeting
        queued now has arrived, so has any reply still due to this chat."""
        newcomer = await ChatClient(self.http, self.base_url).start()
        await newcomer.say("مرحبا")
        params = {"session": self.session, "after": self.cursor, "wait": "0"}
        async with self.http.get(f"{self.base_url}/chat/api/messages", params=params) as r:
            assert (await r.json())["messages"] == []
