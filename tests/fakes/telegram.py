"""A fake Telegram Bot API: the methods Tawasul calls, answered in the real API's shape.

Every method lives at `/bot<token>/<method>` and answers `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": ..., "description": ...}` (with `parameters.retry_after` for
429), as api.telegram.org does. Files are served at `/file/bot<token>/<file_path>`.
python-telegram-bot posts form-encoded parameters whose structured values (reply_markup…) are
JSON; other clients post JSON: `params()` decodes either.

Errors are scripted per chat: `fake.fail(chat_id, FakeBotAPI.BLOCKED)` makes the next
sendMessage to that chat fail like a user who blocked the bot (`times=None`: every one).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, MediaGate, Recorded

BOT_ID = 7000000001
BOT_USERNAME = "tawasul_test_bot"
# Parameters a form-encoded call carries as JSON; strings (text, ids) are sent as they are.
JSON_FIELDS = frozenset(
    {"reply_markup", "allowed_updates", "entities", "link_preview_options", "reply_parameters"}
)


@dataclass(frozen=True)
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class _AnswerLost(Exception):
    """The fake's way out of a handler whose answer never goes back."""


class FakeBotAPI(FakeServer):
    THROTTLED = Failure(429, "Too Many Requests: retry after 1", retry_after=1)
    BLOCKED = Failure(403, "Forbidden: bot was blocked by the user")
    BAD_REQUEST = Failure(400, "Bad Request: chat not found")
    # The message reaches the chat, and the connection drops before the answer gets back.
    ANSWER_LOST = Failure(0, "the connection dropped after the request")

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.downloads = MediaGate()  # held or failing file downloads, for tests
        self._failures: dict[int, list[tuple[Failure, int | None]]] = {}
        self._message_ids = itertools.count(1)
        self._script_lock = threading.Lock()

    def start(self) -> FakeBotAPI:
        super().start()
        return self

    # -- scripting ----------------------------------------------------------------------------
    def fail(self, chat_id: int, failure: Failure, times: int | None = 1) -> None:
        """The next `times` sendMessage calls to `chat_id` fail (None: all of them)."""
        with self._script_lock:
            self._failures.setdefault(chat_id, []).append((failure, times))

    def add_file(self, file_id: str, file_path: str, content: bytes) -> None:
        self.files[file_id] = (file_path, content)

    def _scripted_failure(self, chat_id: int) -> Failure | None:
        with self._script_lock:
            queue = self._failures.get(chat_id)
            if not queue:
                return None
            failure, times = queue[0]
            if times is not None:
                if times <= 1:
                    queue.pop(0)
                else:
                    queue[0] = (failure, times - 1)
            return failure

    # -- reading what was received ------------------------------------------------------------
    @staticmethod
    def params(recorded: Recorded) -> dict[str, Any]:
        """A call's parameters, whether posted as JSON or as a form with JSON-encoded values."""
        if isinstance(recorded.json, dict):
            return dict(recorded.json)
        decoded: dict[str, Any] = {**recorded.query, **recorded.form}
        for key in JSON_FIELDS & decoded.keys():
            try:
                decoded[key] = json.loads(decoded[key])
            except ValueError:
                pass  # left as sent: the method answers 400 as Telegram would
        return decoded

    def method_of(self, recorded: Recorded) -> str:
        prefix = f"/bot{self.token}/"
        return recorded.path.removeprefix(prefix) if recorded.path.startswith(prefix) else ""

    def calls(self, method: str, **match: Any) -> list[dict[str, Any]]:
        """Parameters of every `method` call received so far whose parameters match."""
        found = []
        for recorded in self.received(lambda r: self.method_of(r) == method):
            params = self.params(recorded)
            if all(str(params.get(k)) == str(v) for k, v in match.items()):
                found.append(params)
        return found

    def wait_calls(
        self, method: str, count: int = 1, timeout: float = 15.0, **match: Any
    ) -> list[dict[str, Any]]:
        """Block until `count` matching `method` calls arrived (the worker sends later)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.calls(method, **match)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"expected {count} {method} calls matching {match}, got {self.calls(method, **match)}"
        )

    def texts(self, chat_id: int) -> list[str]:
        """Every text sent to a chat, in order."""
        return [str(c["text"]) for c in self.calls("sendMessage", chat_id=chat_id)]

    # -- the API ------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/bot{token}/{method}", self._method),
            web.get("/file/bot{token}/{path:.+}", self._file),
        ]

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(failure: Failure) -> web.Response:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": failure.status,
            "description": failure.description,
        }
        if failure.retry_after is not None:
            body["parameters"] = {"retry_after": failure.retry_after}
        return web.json_response(body, status=failure.status)

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Tawasul Test",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _method(self, request: web.Request) -> web.Response:
        recorded = await self.record(request)
        if request.match_info["token"] != self.token:
            return self._error(Failure(401, "Unauthorized"))
        params = self.params(recorded)
        method = request.match_info["method"]
        if method == "getMe":
            return self._ok(self._bot_user())
        if method == "sendMessage":
            try:
                return self._send_message(params)
            except _AnswerLost:
                if request.transport is not None:
                    request.transport.close()
                return web.Response()
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return self._ok(True)
        if method == "getFile":
            known = self.files.get(str(params.get("file_id")))
            if known is None:
                return self._error(Failure(400, "Bad Request: invalid file_id"))
            file_path, content = known
            return self._ok(
                {
                    "file_id": params["file_id"],
                    "file_unique_id": "u" + str(params["file_id"])[:16],
                    "file_size": len(content),
                    "file_path": file_path,
                }
            )
        return self._error(Failure(404, "Not Found"))

    def _send_message(self, params: dict[str, Any]) -> web.Response:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, TypeError, ValueError):
            return self._error(Failure(400, "Bad Request: chat_id is empty"))
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._error(Failure(400, "Bad Request: message text is empty"))
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return self._error(Failure(400, "Bad Request: message is too long"))
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if len(str(button.get("callback_data", "")).encode()) > 64:
                        return self._error(Failure(400, "Bad Request: BUTTON_DATA_INVALID"))
        failure = self._scripted_failure(chat_id)
        if failure is not None and failure is not self.ANSWER_LOST:
            return self._error(failure)
        result: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self._bot_user(),
            "chat": {"id": chat_id, "type": "private", "first_name": "Beneficiary"},
            "date": int(time.time()),
            "text": text,
        }
        if markup:
            result["reply_markup"] = markup
        if failure is not None:
            raise _AnswerLost
        return self._ok(result)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        failure = await self.downloads.passage()
        if failure is not None:
            return web.json_response(
                {"ok": False, "error_code": failure, "description": "Unavailable"}, status=failure
            )
        for file_path, content in self.files.values():
            if file_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )
