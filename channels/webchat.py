"""The association's web chat: a page at /chat and its JSON API.

The browser holds a session token signed by the server, posts messages to
`POST /chat/api/messages`, and long-polls `GET /chat/api/messages` for replies. The worker
delivers replies by appending them to a per-session Redis stream, so any web process can
answer the poll (web processes scale horizontally).

A file (a photo or PDF of a document) goes up first, on its own, to `POST /chat/api/uploads`:
the file arrives with the request, so it is stored at once (under var/media, as the worker
stores the other channels' files) and the answer is a token signed for that session; the
message that carries it names the token, and is recorded and routed like any other, its
attachment already stored.
A reply holds personal data (a form's summary: name, national ID, mobile), so it goes into
the stream encrypted with the database's cipher, and the stream lives only as long as a
page needs it to show the conversation again (TAWASUL_WEBCHAT_HISTORY_HOURS after the last
reply). Long polls are bounded per session (in Redis, across web processes) and per process,
so a crowd of them can neither take every Redis connection nor starve anyone's feed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.crypto import DecryptionError
from bot.media import MAX_BYTES, MediaTooLargeError
from bot.models import AddressKind, InboundMessage, Media, MessageRef, OutboundMessage
from channels.base import (
    Capabilities,
    Channel,
    ChannelSettings,
    Inbound,
    PermanentSendError,
    RetryableSendError,
    SendResult,
    WebhookRequest,
)
from channels.context import ChannelContext

MAX_TEXT = 4096
STREAM_MAXLEN = 200  # the page keeps as many of the visitor's own messages (chat.js)
MAX_WAIT_SECONDS = 25.0
log = logging.getLogger(__name__)

UPLOAD_PATH = "/chat/api/uploads"
# What the page lets a visitor attach: document photos and scans (the form checks again).
UPLOAD_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "application/pdf"})
MAX_ATTACHMENTS = 5
MAX_FILENAME = 200
# A stored file's name is a digest of its content and an extension (bot/media.py).
_STORED_NAME = re.compile(r"[0-9a-f]{64}\.[a-z0-9]{1,8}")
_UPLOAD_CHUNK = 64 * 1024
# A session's poll count outlives a poll cut off with its process by at most this long.
POLL_COUNT_TTL_SECONDS = int(MAX_WAIT_SECONDS) + 15
BUSY_RETRY_SECONDS = 2
_STREAM_ID = re.compile(r"(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})")
_UINT64_MAX = 2**64 - 1


def _stream_key(session_id: str) -> str:
    return f"tawasul:webchat:{session_id}"


def _polls_key(session_id: str) -> str:
    return f"tawasul:webchat-polls:{session_id}"


def valid_cursor(value: str) -> bool:
    """A Redis stream id "ms-seq" in ASCII digits, each part within 64 bits (Redis refuses
    more, and `str.isdigit` would let Arabic-Indic digits through)."""
    match = _STREAM_ID.fullmatch(value)
    return match is not None and all(int(part) <= _UINT64_MAX for part in match.groups())


class TooManyPolls(Exception):
    """This session already holds as many long polls open as it may."""

    retry_after = 1


@dataclass(frozen=True)
class Replies:
    """A read of the reply feed: the messages, the new cursor, and, when the process had no
    long poll to spare, how long the page should wait before it polls again."""

    messages: list[dict[str, Any]]
    cursor: str
    retry_after: int = 0


class WebChatChannel(Channel):
    name: ClassVar[str] = "webchat"
    address_kinds = (AddressKind.WEBCHAT,)
    capabilities = Capabilities(
        buttons=True, max_buttons=12, max_button_title=40, max_text_length=MAX_TEXT
    )
    webhook_paths = ("/chat/api/messages",)

    def __init__(self, context: ChannelContext, settings: ChannelSettings | None = None) -> None:
        self.context = context  # nothing to set: the web chat is always on
        gateway = context.settings
        self.polls_per_session = gateway.polls_per_session
        self.polls_per_process = gateway.polls_per_process
        self.history_seconds = gateway.webchat_history_hours * 3600
        # Long polls block in Redis for up to MAX_WAIT_SECONDS: they get their own client,
        # whose socket timeout outlasts them (redis-py's default of 5 s would cut them off),
        # and whose pool is theirs alone and never runs dry: at most `polls_per_process`
        # block at once, so the shared client stays free for everything else.
        self._poll_redis = Redis(
            connection_pool=BlockingConnectionPool.from_url(
                context.redis_url,
                socket_timeout=MAX_WAIT_SECONDS + 10,
                max_connections=self.polls_per_process + 5,
                timeout=10,
            )
        )
        self._polling = 0

    async def close(self) -> None:
        await self._poll_redis.aclose()

    # -- sessions ---------------------------------------------------------------------------
    def new_session(self) -> str:
        """A random session id with the server's signature, so ids cannot be guessed."""
        raw = secrets.token_urlsafe(18)
        return f"{raw}.{self._signature(raw)}"

    def _signature(self, raw: str) -> str:
        return self.context.cipher.lookup_hash(f"webchat-session:{raw}")[:32]

    def session_id(self, token: str) -> str | None:
        """The session id inside a token, or None if the token was not issued here."""
        raw, _, signature = token.partition(".")
        if not raw or not signature or len(token) > 128 or not token.isascii():
            return None
        if not hmac.compare_digest(signature, self._signature(raw)):
            return None
        return raw

    # -- uploads ----------------------------------------------------------------------------
    def extra_routes(self) -> list[web.AbstractRouteDef]:
        return [web.post(UPLOAD_PATH, self._upload)]

    def _upload_signature(self, session: str, name: str, content_type: str) -> str:
        return self.context.cipher.lookup_hash(f"webchat-upload:{session}:{name}:{content_type}")[
            :32
        ]

    async def _upload(self, request: web.Request) -> web.Response:
        """Store one file sent as the request's body (`?session=` names the conversation)."""
        session = self.session_id(request.query.get("session", ""))
        if session is None:
            return web.json_response({"error": "unknown session"}, status=403)
        content_type = request.content_type.lower()
        if content_type not in UPLOAD_TYPES:
            return web.json_response(
                {"error": f"only {', '.join(sorted(UPLOAD_TYPES))} can be sent"}, status=415
            )
        data = bytearray()
        async for chunk in request.content.iter_chunked(_UPLOAD_CHUNK):
            data.extend(chunk)
            if len(data) > MAX_BYTES:
                return web.json_response({"error": "the file is too large"}, status=413)
        if not data:
            return web.json_response({"error": "empty file"}, status=400)
        try:
            stored = await self.context.media.save(bytes(data), content_type)
        except MediaTooLargeError:
            return web.json_response({"error": "the file is too large"}, status=413)
        except Exception as exc:  # the object store did not answer: the page may send again
            log.warning("webchat: upload not stored: %r", exc)
            return web.json_response({"error": "the file could not be kept"}, status=503)
        name = Path(stored.stored_path or "").name
        token = f"{name}.{self._upload_signature(session, name, content_type)}"
        return web.json_response({"upload": token, "content_type": content_type}, status=201)

    def _attachments(self, session: str, items: Any) -> tuple[Media, ...]:
        """The stored files a message names by their upload tokens (signed for this session)."""
        if items is None:
            return ()
        if not isinstance(items, list) or len(items) > MAX_ATTACHMENTS:
            raise ValueError(f"attachments must be a list of at most {MAX_ATTACHMENTS}")
        media: list[Media] = []
        for item in items:
            if not isinstance(item, dict):
                raise ValueError("each attachment must be an object")
            token, content_type = item.get("upload"), item.get("content_type")
            filename = item.get("filename")
            if not isinstance(token, str) or not isinstance(content_type, str):
                raise ValueError("each attachment needs its upload token and content type")
            name, _, signature = token.rpartition(".")
            if not _STORED_NAME.fullmatch(name) or not hmac.compare_digest(
                signature, self._upload_signature(session, name, content_type)
            ):
                raise ValueError("unknown upload")
            if filename is not None and (
                not isinstance(filename, str) or len(filename) > MAX_FILENAME
            ):
                raise ValueError("filename must be a short string")
            stored = self.context.media.locator_of_name(name)
            media.append(Media(content_type=content_type, filename=filename, stored_path=stored))
        return tuple(media)

    # -- inbound ----------------------------------------------------------------------------
    async def verify(self, request: WebhookRequest) -> bool:
        try:
            data = request.json_body
        except ValueError:
            return True  # not ours to judge: parse() answers 400 for malformed JSON
        token = data.get("session") if isinstance(data, dict) else None
        return isinstance(token, str) and self.session_id(token) is not None

    def parse(self, request: WebhookRequest) -> list[Inbound]:
        try:
            data = request.json_body
        except ValueError as exc:
            raise ValueError("body is not JSON") from exc
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        session = self.session_id(str(data.get("session", "")))
        text = data.get("text", "")
        button_id = data.get("button_id")
        client_id = data.get("client_id") or uuid.uuid4().hex
        if session is None:
            raise ValueError("unknown session")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            raise ValueError(f"text must be a string of at most {MAX_TEXT} characters")
        if button_id is not None and (not isinstance(button_id, str) or len(button_id) > 64):
            raise ValueError("button_id must be a short string")
        if not isinstance(client_id, str) or len(client_id) > 64:
            raise ValueError("client_id must be a short string")
        media = self._attachments(session, data.get("attachments"))
        if not text.strip() and button_id is None and not media:
            raise ValueError("empty message")
        return [
            InboundMessage(
                channel=self.name,
                address_kind=AddressKind.WEBCHAT,
                address=session,
                # Scoped to the session: one browser's ids can never drop another's messages.
                provider_id=f"{session}:{client_id}",
                text=text.strip(),
                button_id=button_id,
                media=media,
            )
        ]

    def acknowledge(self, request: WebhookRequest, results: list[int | None]) -> web.Response:
        return web.json_response({"ok": True, "duplicate": results == [None]}, status=202)

    # -- outbound ---------------------------------------------------------------------------
    async def send(
        self,
        kind: AddressKind,
        address: str,
        message: OutboundMessage,
        *,
        reference: MessageRef | None = None,
        already_sent: tuple[str, ...] = (),  # sent as one part: never partly sent
    ) -> SendResult:
        if kind is not AddressKind.WEBCHAT:
            raise PermanentSendError(f"web chat cannot reach a {kind} address")
        plain = json.dumps(
            {
                "text": message.text,
                "buttons": [{"id": b.id, "title": b.title} for b in message.buttons],
            },
            ensure_ascii=False,
        )
        entry = {"sealed": self.context.cipher.encrypt(plain)}
        key = _stream_key(address)
        try:
            async with self.context.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(key, entry, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
                pipe.expire(key, self.history_seconds)
                stream_id, _ = await pipe.execute()
        except Exception as exc:  # redis errors are transient from the worker's view
            raise RetryableSendError(f"web chat outbox unavailable: {exc}") from exc
        return SendResult(provider_id=_text(stream_id))

    async def replies(self, session_id: str, after: str, wait_seconds: float) -> Replies:
        """Replies after the cursor, waiting up to `wait_seconds` for the first one. Raises
        TooManyPolls when the session holds its share of long polls already; when this
        process holds its share, reads without waiting and says when to come back."""
        after = after or "0-0"
        block = int(max(0.0, min(wait_seconds, MAX_WAIT_SECONDS)) * 1000)
        if not block:
            return Replies(*await self._read(self.context.redis, session_id, after, None))
        if self._polling >= self.polls_per_process:
            read = await self._read(self.context.redis, session_id, after, None)
            return Replies(*read, retry_after=BUSY_RETRY_SECONDS)
        self._polling += 1  # taken before any await, so no two polls take the last one
        try:
            return await self._long_poll(session_id, after, block)
        finally:
            self._polling -= 1

    async def _long_poll(self, session_id: str, after: str, block: int) -> Replies:
        key = _polls_key(session_id)
        async with self.context.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, POLL_COUNT_TTL_SECONDS)
            held, _ = await pipe.execute()
        try:
            if int(held) > self.polls_per_session:
                raise TooManyPolls()
            return Replies(*await self._read(self._poll_redis, session_id, after, block))
        finally:
            await asyncio.shield(self.context.redis.decr(key))

    async def _read(
        self, redis: Redis, session_id: str, after: str, block: int | None
    ) -> tuple[list[dict[str, Any]], str]:
        try:
            result: Any = await redis.xread({_stream_key(session_id): after}, count=50, block=block)
        except RedisTimeoutError:
            result = []  # nothing arrived in time: the browser simply polls again
        messages: list[dict[str, Any]] = []
        cursor = after
        for _key, entries in result or []:
            for entry_id, fields in entries:
                cursor = _text(entry_id)
                reply = self._open({_text(k): _text(v) for k, v in fields.items()})
                messages.append({"id": cursor, **reply})
        return messages, cursor

    def _open(self, fields: dict[str, str]) -> dict[str, Any]:
        """A stream entry's text and buttons (entries written before they were sealed are
        read as they are, until they expire)."""
        if "sealed" in fields:
            try:
                data = json.loads(self.context.cipher.decrypt(fields["sealed"]))
            except DecryptionError:  # sealed with another key: nothing to show
                data = {}
            return {"text": data.get("text", ""), "buttons": data.get("buttons", [])}
        return {
            "text": fields.get("text", ""),
            "buttons": json.loads(fields.get("buttons") or "[]"),
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
