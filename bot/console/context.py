"""What a console page handler can reach: the shared parts (store, Redis, profile) and, per
request, the signed-in staff member and their translator."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from redis.asyncio import Redis

from bot.i18n import Translator, translator
from bot.media import MediaStore
from bot.profile import Profile
from bot.storage import Store
from bot.storage.audit import Subject
from bot.users import StaffMember
from channels.base import Channel
from worker.broadcast_service import BroadcastService

from .sessions import Session, Sessions
from .throttle import LoginThrottle


class Outbox(Protocol):
    """Where stored replies go to be delivered (the worker's queue: worker.queues)."""

    async def enqueue(self, message_ids: list[int]) -> None: ...


@dataclass
class ConsoleContext:
    """Built once by the application (bot/app/web.py) and shared by every console request."""

    store: Store
    redis: Redis
    profile: Profile
    public_url: str
    # Keeps this deployment's keys in a shared Redis apart (the queue name is such a name).
    namespace: str = "tawasul"
    # Staff replies are stored as outbound messages, then their ids handed to this.
    outbox: Outbox | None = None
    # The channels this process runs, by name (e.g. to know which can send a template).
    channels: Mapping[str, Channel] = field(default_factory=dict)
    # Broadcasts: the same service as `tawasul broadcast` (bot/console/broadcasts_pages.py).
    broadcasts: BroadcastService | None = None
    # Where attachments are kept; the console reads them from there, never from a request.
    media: MediaStore | None = None
    # Where a request came from: the application's rule (the peer, or behind a trusted
    # proxy X-Forwarded-For: TAWASUL_TRUST_FORWARDED_FOR), for the sign-in limits and audit.
    address_of: Callable[[web.Request], str | None] = field(default=lambda r: r.remote)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


CONSOLE = web.AppKey("console", ConsoleContext)
SESSIONS = web.AppKey("console_sessions", Sessions)
THROTTLE = web.AppKey("console_login_throttle", LoginThrottle)
# Set on each request by the guard.
STAFF_KEY = web.RequestKey("console_staff", StaffMember)
SESSION_KEY = web.RequestKey("console_session", Session)
LOGIN_CSRF_KEY = web.RequestKey("console_login_csrf", str)  # the sign-in form's, before a session


def console(request: web.Request) -> ConsoleContext:
    return request.config_dict[CONSOLE]


def staff(request: web.Request) -> StaffMember:
    """The signed-in staff member (every route but the public ones has one)."""
    member: StaffMember | None = request.get(STAFF_KEY)
    if member is None:
        raise web.HTTPForbidden()
    return member


def current_session(request: web.Request) -> Session | None:
    return request.get(SESSION_KEY)


def staff_language(request: web.Request) -> str:
    member: StaffMember | None = request.get(STAFF_KEY)
    if member is not None and member.language:
        return member.language
    asked = request.query.get("lang")
    if asked in ("ar", "en"):
        return asked
    return "ar"  # the console is Arabic first, whatever the beneficiaries' default


def translator_for(request: web.Request) -> Translator:
    return translator(staff_language(request))


def client_address(request: web.Request) -> str | None:
    """The address the request came from, as the application decides it (ConsoleContext)."""
    return console(request).address_of(request)


async def audit(
    request: web.Request,
    action: str,
    subject: Subject | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """Record what the signed-in staff member did, with their address (e.g. a view of a
    beneficiary's personal data: audit(request, "contact.viewed", Subject("contact", 12)))."""
    member = staff(request)
    await console(request).store.audit.record(
        member.email, action, subject, details, client_address(request)
    )
