"""A fake Twilio REST API for the Twilio channel's tests, and helpers to sign webhooks as
Twilio does.

`FakeTwilio` answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` like the real API
(form-encoded request, HTTP basic auth with the account SID and auth token, a JSON Message
resource with a fresh "SM…" SID and status "queued" in return, Twilio's JSON error document
otherwise) and serves inbound media behind basic auth, redirecting to a "CDN" path as Twilio
does. Failures are scripted per recipient: opted out (21610), WhatsApp window closed (63016 for
free text, templates accepted), or a queue of canned answers (500, 429, a slow answer…).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import BasicAuth, web
from twilio.request_validator import RequestValidator

from tests.fakes.server import FakeServer, MediaGate, Recorded

ACCOUNT_SID = "AC" + "5e1f0c2b7a9d4e6f" * 2
AUTH_TOKEN = "9b1c2d3e4f5061728394a5b6c7d8e9f0"
API_VERSION = "2010-04-01"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    63016: (
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template."
    ),
}


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def sign(url: str, form: Mapping[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """`X-Twilio-Signature` for a form posted to `url`, computed as Twilio computes it."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(form)))


def fixture(name: str) -> dict[str, Any]:
    """One captured payload: {"path", "description", "form", "expect"}."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def fixture_names() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def payload(name: str, **overrides: str | None) -> dict[str, str]:
    """A captured payload's form with some fields replaced (None removes a field)."""
    form: dict[str, str] = dict(fixture(name)["form"])
    for key, value in overrides.items():
        if value is None:
            form.pop(key, None)
        else:
            form[key] = value
    return form


def twilio_photo(phone: str, sid: str, media_url: str) -> dict[str, str]:
    """A Twilio WhatsApp message from `phone` carrying one PNG at `media_url`."""
    return payload(
        "whatsapp_text",
        From="whatsapp:" + phone,
        WaId=phone[1:],
        ChannelMetadata=None,
        MessageSid=sid,
        SmsMessageSid=sid,
        SmsSid=sid,
        Body="صورة الهوية",
        AccountSid=ACCOUNT_SID,
        MessageType="image",
        NumMedia="1",
        MediaUrl0=media_url,
        MediaContentType0="image/png",
    )


@dataclass(frozen=True)
class Reply:
    """A scripted answer: an HTTP status with a Twilio error code, or a delayed success.
    `delay` waits before deciding; `answer_after` accepts the message at once and answers
    that much later, `hold` until the test calls `release()` (the message is Twilio's then,
    whether or not anyone is still waiting for the answer), `drop` accepts it and closes
    the connection instead of answering (with `report_first`, after its status callbacks
    were posted and answered: the report outran the answer). `retry_after` is the
    Retry-After header of an error answer."""

    status: int = 201
    code: int | None = None
    delay: float = 0.0
    answer_after: float = 0.0
    hold: bool = False
    drop: bool = False
    report_first: bool = False
    retry_after: str | None = None


@dataclass(frozen=True)
class Sent:
    """A message the fake accepted: the request's fields and the resource it answered."""

    form: dict[str, str]
    media_urls: list[str]
    resource: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.resource["sid"])

    @property
    def body(self) -> str:
        return self.form.get("Body", "")


class FakeTwilio(FakeServer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: list[Sent] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._opted_out: set[str] = set()
        self._window_closed: set[str] = set()
        self._media: dict[str, tuple[bytes, str]] = {}
        self._state = threading.Lock()
        self.downloads = MediaGate()  # held or failing media downloads, for tests
        self.answers = MediaGate()  # answers of `Reply(hold=True)` sends wait while held
        # Statuses reported to each accepted message's StatusCallback, in order, once its
        # answer is given (none by default); and every callback posted: (url, form, status).
        self.report_statuses: tuple[str, ...] = ()
        self.callbacks: list[tuple[str, dict[str, str], int]] = []
        self._http: Any = None

    # -- scripting (from tests) -------------------------------------------------------------
    def script(self, to: str, *replies: Reply) -> None:
        """Answer the next requests to `to` with `replies`, in order, then normally."""
        with self._state:
            self._scripts.setdefault(to, []).extend(replies)

    def opt_out(self, to: str) -> None:
        """`to` replied STOP: every message to them is refused with 21610."""
        with self._state:
            self._opted_out.add(to)

    def close_window(self, to: str) -> None:
        """`to` last wrote over 24 hours ago: free text gets 63016, templates go through."""
        with self._state:
            self._window_closed.add(to)

    def add_media(self, content: bytes, content_type: str) -> str:
        """Serve `content` as an inbound attachment; returns its Twilio-style MediaUrl."""
        media_sid = new_sid("ME")
        with self._state:
            self._media[media_sid] = (content, content_type)
        message_sid = new_sid("MM")
        return (
            f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}"
            f"/Messages/{message_sid}/Media/{media_sid}"
        )

    def sent_to(self, to: str) -> list[Sent]:
        with self._state:
            return [sent for sent in self.sent if sent.form.get("To") == to]

    def wait_sent(self, to: str, count: int, timeout: float = 15.0) -> list[Sent]:
        """Block until `count` messages to `to` were accepted (the worker sends them
        asynchronously); returns all accepted so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            accepted = self.sent_to(to)
            if len(accepted) >= count:
                return accepted
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages to {to}, got {self.sent_to(to)}")

    # -- the API ----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return [
            web.post(base + "/Messages.json", self._create_message),
            web.get(base + "/Messages/{message_sid}/Media/{media_sid}", self._media_resource),
            web.get("/cdn/{media_sid}", self._media_content),
        ]

    def _error(self, status: int, code: int) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": ERROR_MESSAGES.get(code, "Error"),
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        try:
            auth = BasicAuth.decode(header)
        except ValueError:
            return False
        return (auth.login, auth.password) == (self.account_sid, self.auth_token)

    async def _create_message(self, request: web.Request) -> web.Response:
        entry: Recorded = await self.record(request)
        if not self._authorized(request):
            return self._error(401, 20003)
        if request.match_info["account_sid"] != self.account_sid:
            return self._error(404, 20404)
        posted = await request.post()
        form = entry.form
        media_urls = [str(v) for v in posted.getall("MediaUrl", [])]
        to = form.get("To", "")
        if not to:
            return self._error(400, 21604)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self._error(400, 21603)
        template = form.get("ContentSid")
        if not form.get("Body") and not template and not media_urls:
            return self._error(400, 21602)
        with self._state:
            script = self._scripts.get(to)
            reply = script.pop(0) if script else Reply()
            opted_out = to in self._opted_out
            window_closed = to in self._window_closed
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status >= 300:
            error = self._error(reply.status, reply.code or 20000 + reply.status)
            if reply.retry_after is not None:
                error.headers["Retry-After"] = reply.retry_after
            return error
        if opted_out:
            return self._error(400, 21610)
        if window_closed and not template:
            return self._error(400, 63016)
        resource = self._resource(form, media_urls)
        sent = Sent(dict(form), media_urls, resource)
        with self._state:
            self.sent.append(sent)
        if reply.drop:
            if reply.report_first and self.report_statuses:
                await self._report_all(sent)
            if request.transport is not None:
                request.transport.close()
            if not reply.report_first:
                self._report_soon(sent)
            return web.Response()
        if reply.hold or reply.answer_after:
            # Twilio has the message now: its callbacks come whatever happens to the caller.
            asyncio.get_running_loop().create_task(self._answered_later(sent, reply))
            if reply.hold:
                await self.answers.passage()
            await asyncio.sleep(reply.answer_after)
            return web.json_response(resource, status=201)
        self._report_soon(sent)
        return web.json_response(resource, status=201)

    async def _answered_later(self, sent: Sent, reply: Reply) -> None:
        if reply.hold:
            await self.answers.passage()
        await asyncio.sleep(reply.answer_after)
        self._report_soon(sent)

    # -- status callbacks, as Twilio posts them ----------------------------------------------
    def _report_soon(self, sent: Sent) -> None:
        if self.report_statuses and sent.form.get("StatusCallback"):
            asyncio.get_running_loop().create_task(self._report_all(sent))

    async def _report_all(self, sent: Sent) -> None:
        for status in self.report_statuses:
            await self._post_status(sent, status, None)

    def status_form(self, sent: Sent, status: str, error_code: int | None = None) -> dict[str, str]:
        """The form Twilio posts to a message's StatusCallback when its status changes."""
        to = sent.form.get("To", "")
        form = {
            "SmsSid": sent.sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": to,
            "MessageSid": sent.sid,
            "AccountSid": self.account_sid,
            "From": sent.form.get("From") or "",
            "ApiVersion": API_VERSION,
        }
        if sent.form.get("MessagingServiceSid"):
            form["MessagingServiceSid"] = sent.form["MessagingServiceSid"]
        if to.startswith("whatsapp:"):
            form.update(
                ChannelPrefix="whatsapp",
                ChannelInstallSid="XE" + "7a8b9c0d1e2f3a4b" * 2,
                ChannelToAddress=to.removeprefix("whatsapp:")[:8] + "XXXXX",
                StructuredMessage="false",
            )
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return form

    async def _post_status(self, sent: Sent, status: str, error_code: int | None) -> int:
        import aiohttp  # the fake's own client, on its own loop

        url = sent.form["StatusCallback"]
        form = self.status_form(sent, status, error_code)
        headers = {"X-Twilio-Signature": sign(url, form, self.auth_token)}
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            async with self._http.post(url, data=form, headers=headers) as response:
                answered = response.status
        except (aiohttp.ClientError, OSError):
            answered = 0  # nobody listening: Twilio gives up too
        with self._state:
            self.callbacks.append((url, form, answered))
        return answered

    def report(self, sent: Sent, status: str, error_code: int | None = None) -> int:
        """Post one status callback for `sent` now (from the test's thread); the answer."""
        future = asyncio.run_coroutine_threadsafe(
            self._post_status(sent, status, error_code), self._loop
        )
        return int(future.result(30))

    def stop(self) -> None:
        if self._http is not None:
            asyncio.run_coroutine_threadsafe(self._http.close(), self._loop).result(10)
        super().stop()

    def _resource(self, form: Mapping[str, str], media_urls: list[str]) -> dict[str, Any]:
        """A Message resource as the real API returns it right after creation."""
        sid = new_sid("MM" if media_urls else "SM")
        now = formatdate(usegmt=True).replace("GMT", "+0000")
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        service = form.get("MessagingServiceSid")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": form.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": service,
            "num_media": str(len(media_urls)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": uri + "/Media.json"},
            "to": form.get("To"),
            "uri": uri + ".json",
        }

    async def _media_resource(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        if not self._authorized(request):
            return self._error(401, 20003)
        media_sid = request.match_info["media_sid"]
        if media_sid not in self._media:
            return self._error(404, 20404)
        failure = await self.downloads.passage()
        if failure is not None:
            return self._error(failure, 20500)
        # Twilio redirects a media URL to its CDN, where the content needs no credentials.
        raise web.HTTPTemporaryRedirect(f"/cdn/{media_sid}")

    async def _media_content(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        found = self._media.get(request.match_info["media_sid"])
        if found is None:
            return web.Response(status=404)
        content, content_type = found
        return web.Response(body=content, content_type=content_type)
