"""A fake Meta Graph API for the WhatsApp Cloud channel: sends, media lookups and downloads.

It answers like Meta: `POST /{phone_number_id}/messages` gives
`{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}`, errors
come as `{"error": {"message", "type", "code", "error_data", "fbtrace_id"}}`, and every route
wants the Bearer token. Tests script failures per recipient (the `to` digits, or the
`recipient` user id).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, MediaGate, Recorded


def graph_error(code: int, message: str, status: int = 400, details: str = "") -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details or message},
                "fbtrace_id": "AbCdEfGhIjKlMnOp",
            }
        },
        status=status,
    )


class FakeGraphAPI(FakeServer):
    def __init__(self, token: str, phone_number_id: str) -> None:
        super().__init__()
        self.token = token
        self.phone_number_id = phone_number_id
        self._ids = itertools.count(1)
        self._script_lock = threading.Lock()
        # Scripted behaviour, keyed by recipient digits (no "+").
        self.window_closed: set[str] = set()  # 131047 for anything but a template
        self.throttled: dict[str, int] = {}  # this many 130429 answers, then normal
        self.fail_once: set[str] = set()  # one HTTP 500, then normal
        self.errors: dict[str, tuple[int, int]] = {}  # (HTTP status, Meta code), every time
        self.media: dict[str, tuple[bytes, str]] = {}  # media id → (bytes, mime type)
        self.downloads = MediaGate()  # held or failing media downloads, for tests
        self.accepted: list[tuple[str, str, dict[str, Any]]] = []  # (to, wamid, body)
        # Sends to these recipients are accepted at once and answered only when the test
        # releases `answers` (Meta has the message then, whoever still waits for the answer).
        self.held: set[str] = set()
        self.answers = MediaGate()
        self.retry_after: str | None = None  # Retry-After header of throttled answers
        # Status webhooks: posted to `webhook_url`, signed with `app_secret`, for each
        # accepted message in the order of `report_statuses` once it is answered.
        self.webhook_url: str | None = None
        self.app_secret: str | None = None
        self.report_statuses: tuple[str, ...] = ()
        self.reports: list[tuple[dict[str, Any], int]] = []  # (payload, HTTP answer)
        self._http: Any = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/{phone_number_id}/messages", self._send),
            web.get("/media-download/{media_id}", self._download),
            web.get("/{media_id}", self._lookup),
        ]

    # -- for tests --------------------------------------------------------------------------
    def add_media(self, media_id: str, data: bytes, mime_type: str) -> None:
        self.media[media_id] = (data, mime_type)

    def accepted_to(self, to: str) -> list[tuple[str, dict[str, Any]]]:
        """(wamid, body) of every message accepted for `to` (digits or +digits), in order."""
        with self._script_lock:
            return [(w, b) for t, w, b in self.accepted if t == to.lstrip("+")]

    def sends(self, to: str | None = None) -> list[Recorded]:
        """Accepted and refused sends, optionally to one recipient (digits or +digits)."""
        digits = to.lstrip("+") if to else None
        return self.received(
            lambda r: (
                r.method == "POST"
                and r.path.endswith("/messages")
                and isinstance(r.json, dict)
                and (digits is None or recipient_of(r.json) == digits)
            )
        )

    # -- routes -----------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _send(self, request: web.Request) -> web.Response:
        recorded = await self.record(request)
        if not self._authorised(request):
            return graph_error(190, "Invalid OAuth access token.", status=401)
        if request.match_info["phone_number_id"] != self.phone_number_id:
            return graph_error(100, "Unsupported post request.", status=400)
        body: Any = recorded.json
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return graph_error(100, "The parameter messaging_product is required.")
        to = recipient_of(body)
        with self._script_lock:
            if to in self.fail_once:
                self.fail_once.discard(to)
                return graph_error(1, "An unknown error occurred", status=500)
            if self.throttled.get(to, 0) > 0:
                self.throttled[to] -= 1
                throttled = graph_error(130429, "Rate limit hit", status=400)
                if self.retry_after is not None:
                    throttled.headers["Retry-After"] = self.retry_after
                return throttled
        if to in self.errors:
            status, code = self.errors[to]
            return graph_error(code, f"Error {code}", status=status)
        if to in self.window_closed and body.get("type") != "template":
            return graph_error(
                131047,
                "Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since "
                "the customer last replied to this number.",
            )
        wamid = f"wamid.FAKE{next(self._ids):08d}"
        with self._script_lock:
            self.accepted.append((to, wamid, body))
        if to in self.held:
            asyncio.get_running_loop().create_task(self._answered_later(to, wamid, body))
            await self.answers.passage()
        else:
            self._report_soon(to, wamid, body)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, ("wa_id" if "to" in body else "user_id"): to}],
                "messages": [{"id": wamid}],
            }
        )

    # -- status webhooks, as Meta posts them ------------------------------------------------
    async def _answered_later(self, to: str, wamid: str, body: dict[str, Any]) -> None:
        await self.answers.passage()
        self._report_soon(to, wamid, body)

    def _report_soon(self, to: str, wamid: str, body: dict[str, Any]) -> None:
        if self.report_statuses and self.webhook_url:
            asyncio.get_running_loop().create_task(self._report_all(to, wamid, body))

    async def _report_all(self, to: str, wamid: str, body: dict[str, Any]) -> None:
        for state in self.report_statuses:
            await self._post_status(to, wamid, body, state, None)

    async def _post_status(
        self, to: str, wamid: str, body: dict[str, Any], state: str, error_code: int | None
    ) -> int:
        import aiohttp

        from tests.fixtures import whatsapp as wa

        assert self.webhook_url and self.app_secret, "set webhook_url and app_secret first"
        report = wa.status(
            wamid,
            state,
            to,
            error_code,
            self.phone_number_id,
            opaque=body.get("biz_opaque_callback_data"),
        )
        raw = wa.encode(report)
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            headers = wa.sign(raw, self.app_secret)
            async with self._http.post(self.webhook_url, data=raw, headers=headers) as answer:
                status = answer.status
        except (aiohttp.ClientError, OSError):
            status = 0
        with self._script_lock:
            self.reports.append((report, status))
        return status

    def report(self, wamid: str, state: str, error_code: int | None = None) -> int:
        """Post one status webhook about an accepted message now (from the test's thread)."""
        with self._script_lock:
            to, body = next((t, b) for t, w, b in self.accepted if w == wamid)
        future = asyncio.run_coroutine_threadsafe(
            self._post_status(to, wamid, body, state, error_code), self._loop
        )
        return int(future.result(30))

    def stop(self) -> None:
        if self._http is not None:
            asyncio.run_coroutine_threadsafe(self._http.close(), self._loop).result(10)
        super().stop()

    async def _lookup(self, request: web.Request) -> web.Response:
        await self.record(request)
        if not self._authorised(request):
            return graph_error(190, "Invalid OAuth access token.", status=401)
        media_id = request.match_info["media_id"]
        if media_id not in self.media:
            return graph_error(100, "Unsupported get request.", status=400)
        data, mime_type = self.media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/media-download/{media_id}",
                "mime_type": mime_type,
                "sha256": "0" * 64,
                "file_size": str(len(data)),
                "id": media_id,
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        await self.record(request)
        if not self._authorised(request):
            return web.Response(status=401, text="unauthorised")
        media_id = request.match_info["media_id"]
        if media_id not in self.media:
            return web.Response(status=404)
        failure = await self.downloads.passage()
        if failure is not None:
            return web.Response(status=failure, text="unavailable")
        data, mime_type = self.media[media_id]
        return web.Response(body=data, headers={"Content-Type": mime_type})


def recipient_of(body: dict[str, Any]) -> str:
    """Who a send is for: the phone digits in `to`, else the user id in `recipient` (how
    Meta's Messages API takes a user known only by their business-scoped user id)."""
    return str(body.get("to") or body.get("recipient") or "")


def message_text(payload: dict[str, Any]) -> str:
    """The words a recipient sees in one sent message, whatever its type."""
    kind = payload.get("type")
    if kind == "text":
        return str(payload["text"]["body"])
    if kind == "interactive":
        return str(payload["interactive"]["body"]["text"])
    if kind == "template":
        return f"[template {payload['template']['name']}]"
    return f"[{kind}]"


def choices(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """The (id, title) pairs of an interactive message's buttons or list rows."""
    if payload.get("type") != "interactive":
        return []
    interactive = payload["interactive"]
    if interactive["type"] == "button":
        return [(b["reply"]["id"], b["reply"]["title"]) for b in interactive["action"]["buttons"]]
    return [
        (row["id"], row["title"])
        for section in interactive["action"]["sections"]
        for row in section["rows"]
    ]
