"""Telling a beneficiary something from the console: in their language, on the address they
last wrote from, through the same delivery path as the bot's replies (a stored outbound row,
then its id on the outbox). On WhatsApp, past the 24-hour window, only an approved template
can go (bot/whatsapp_window.py decides); the caller says which one."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from aiohttp import web

from bot import whatsapp_window
from bot.i18n import Translator, translator
from bot.models import AddressKind, OutboundMessage, Template, utcnow
from bot.storage.casework import NO_TEMPLATE, Outgoing
from bot.storage.casework_reads import ReplyRoute
from bot.whatsapp_window import WindowState

from .context import console


def window_of(route: ReplyRoute | None, now: datetime | None = None) -> WindowState | None:
    """The WhatsApp window for a reply on this route; None when the route is not WhatsApp
    (every other channel takes free text at any time)."""
    if route is None or route.address_kind != AddressKind.WHATSAPP.value:
        return None
    return whatsapp_window.window_at(route.last_inbound_at, now or utcnow())


def beneficiary_translator(request: web.Request, language: str | None) -> Translator:
    return translator(language or console(request).profile.default_language)


def outgoing(
    conversation_id: int,
    route: ReplyRoute,
    text: str,
    template: str | None = None,
    variables: dict[str, str] | None = None,
) -> Outgoing:
    """The message to store; `template` when the WhatsApp window has closed (the text is
    kept with it, for the timeline)."""
    message = OutboundMessage(
        text=text, template=Template(template, variables or {}) if template else None
    )
    return Outgoing(conversation_id, route.address_id, route.channel, message)


def notice(
    request: web.Request,
    conversation_id: int,
    route: ReplyRoute | None,
    text: str,
    template: str | None,
    variables: dict[str, str] | None = None,
) -> Outgoing | None:
    """A notice (a status change, the end of a hand-off): free text while it can go, else
    the profile's approved template `template`. Without one, free text would only fail at
    the provider: the notice is kept as not sent (NO_TEMPLATE), with the case, for staff to
    see. None when the beneficiary has no address at all."""
    if route is None:
        return None
    window = window_of(route)
    if window is None or window.open:
        return outgoing(conversation_id, route, text)
    if template is None or template not in console(request).profile.templates:
        return replace(outgoing(conversation_id, route, text), not_sent=NO_TEMPLATE)
    return outgoing(conversation_id, route, text, template, variables)


def our_name_for(request: web.Request, template: str) -> str:
    """The association's short name in the language of one of the profile's templates (the
    {{1}} of those that name us); empty when the profile has no such template."""
    profile = console(request).profile
    found = profile.templates.get(template)
    return profile.short_name.get(found.language) if found is not None else ""


async def push(request: web.Request, message_id: int | None) -> None:
    """Hand a stored message to the worker (the sweep finds it if this is lost)."""
    outbox = console(request).outbox
    if message_id is not None and outbox is not None:
        await outbox.enqueue([message_id])
