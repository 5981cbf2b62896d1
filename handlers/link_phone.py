"""Linking a phone: a beneficiary on Telegram, email or the web chat proves a mobile number is
theirs with a one-time code sent to it by SMS or WhatsApp; the number's history (requests,
complaints, messages) then joins this conversation's contact.

The code is kept only as a keyed hash, expires after CODE_MINUTES and allows MAX_ATTEMPTS
tries in its conversation. What costs money or could be guessed is limited across every
conversation and process (bot/attempts.py, in Redis), since a web-chat session is free to
open: codes sent to one number, asked for by one contact, or from one client address, and
codes tried for one number, each per hour.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from bot.attempts import AttemptLimit, Check, sender_subject
from bot.effects import LinkPhone, SendToAddress
from bot.fields.phone import PHONE_SAUDI_MOBILE, normalize_saudi_mobile
from bot.i18n import N_, keywords
from bot.models import PHONE_KINDS
from handlers.base import Flow, Handler, Turn
from handlers.choices import CANCEL_WORDS, said
from handlers.menu import show_menu

NAME = "link_phone"
CODE_MINUTES = 10
MAX_ATTEMPTS = 5
HOUR = 3600
CODES_TO_NUMBER = AttemptLimit("link-phone-codes-to-number", 3, HOUR)
CODES_FOR_SENDER = AttemptLimit("link-phone-codes-for-sender", 3, HOUR)
CODES_FROM_CLIENT = AttemptLimit("link-phone-codes-from-client", 6, HOUR)
TRIES_FOR_NUMBER = AttemptLimit("link-phone-tries-for-number", 10, HOUR)
# Translators: comma-separated words that start linking the beneficiary's mobile number.
LINK_WORDS = N_("link phone, link my phone, link my number, verify phone, verify my number")


def _code_hash(turn: Turn, phone: str, code: str) -> str:
    return turn.lookup_hash(f"link-phone:{phone}:{code}")


def _sending(turn: Turn, phone: str) -> list[Check]:
    message = turn.message
    return [
        (CODES_TO_NUMBER, phone),
        (CODES_FOR_SENDER, sender_subject(message.address_kind.value, message.address)),
        (CODES_FROM_CLIENT, message.client_address),
    ]


class LinkPhoneWords(Handler):
    """The link words ("link phone", and their Arabic in the catalog) start it from anywhere."""

    def __init__(self, flow: LinkPhoneFlow) -> None:
        self.flow = flow

    def check(self, turn: Turn) -> bool:
        return turn.text in keywords(LINK_WORDS)

    async def handle(self, turn: Turn) -> None:
        turn.state.enter(NAME)
        await self.flow.start(turn)


class LinkPhoneFlow(Flow):
    name = NAME

    async def start(self, turn: Turn) -> None:
        t = turn.t
        if turn.message.address_kind in PHONE_KINDS:
            turn.state.enter(None)
            show_menu(turn, t.gettext(N_("You are writing from your phone: it is already linked.")))
            return
        if turn.phone_route is None:
            turn.state.enter(None)
            show_menu(
                turn,
                t.gettext(N_("Linking a phone number is not available here yet, sorry.")),
            )
            return
        turn.state.step = "phone"
        turn.say(
            t.gettext(
                N_(
                    "To see your requests from WhatsApp or SMS here, write your mobile number "
                    "and I will send it a code."
                )
            )
        )

    async def handle(self, turn: Turn) -> None:
        if said(turn, CANCEL_WORDS):
            turn.state.enter(None)
            show_menu(turn, turn.t.gettext(N_("Nothing was linked.")))
            return
        if turn.state.step == "code":
            await self._code(turn)
        else:
            await self._phone(turn)

    async def _phone(self, turn: Turn) -> None:
        t = turn.t
        phone = normalize_saudi_mobile(turn.message.text)
        if phone is None:
            turn.say(t.gettext(PHONE_SAUDI_MOBILE))
            return
        attempts = turn.attempts
        if (
            turn.phone_route is None
            or attempts is None
            or not await attempts.take(_sending(turn, phone))
        ):
            turn.state.enter(None)
            show_menu(turn, t.gettext(N_("Too many codes were sent. Please try again later.")))
            return
        code = f"{secrets.randbelow(10**6):06d}"
        channel, kind = turn.phone_route
        name = turn.profile.short_name.get(t.language)
        text = t.gettext(
            N_(
                "Your {name} verification code is {code}. It expires in {minutes} minutes. If "
                "you did not ask for it, ignore this message."
            )
        ).format(name=name, code=code, minutes=CODE_MINUTES)
        turn.effect(SendToAddress(channel, kind, phone, text))
        turn.state.drafts.pop("link_phone_sends", None)  # counted in Redis now
        turn.state.step = "code"
        turn.state.data = {
            "phone": phone,
            "code_hash": _code_hash(turn, phone, code),
            "expires": (turn.now + timedelta(minutes=CODE_MINUTES)).isoformat(),
            "attempts": 0,
        }
        turn.say(t.gettext(N_("I have sent a code to {phone}. Write it here.")).format(phone=phone))

    async def _code(self, turn: Turn) -> None:
        t = turn.t
        data: dict[str, Any] = turn.state.data
        if turn.now > datetime.fromisoformat(data["expires"]):
            turn.state.enter(None)
            show_menu(
                turn, t.gettext(N_("The code has expired. Write “link phone” to get a new one."))
            )
            return
        typed = "".join(ch for ch in turn.text if ch.isdigit())
        tries: list[Check] = [(TRIES_FOR_NUMBER, data["phone"])]
        attempts = turn.attempts
        if attempts is None or not await attempts.take(tries):
            turn.state.enter(None)
            show_menu(turn, t.gettext(N_("The code was wrong too many times. Nothing was linked.")))
            return
        if _code_hash(turn, data["phone"], typed) != data["code_hash"]:
            data["attempts"] = int(data["attempts"]) + 1
            left = MAX_ATTEMPTS - data["attempts"]
            if left <= 0:
                turn.state.enter(None)
                show_menu(
                    turn, t.gettext(N_("The code was wrong too many times. Nothing was linked."))
                )
                return
            turn.say(
                t.ngettext(
                    "That code is not right. You can try {n} more time.",
                    "That code is not right. You can try {n} more times.",
                    left,
                ).format(n=left)
            )
            return
        await attempts.give_back(tries)  # the right code costs the beneficiary nothing
        turn.effect(LinkPhone(data["phone"]))
        phone = data["phone"]
        turn.state.enter(None)
        show_menu(
            turn,
            t.gettext(
                N_(
                    "Done: {phone} is linked. Your requests and messages from WhatsApp and SMS "
                    "are now together with this conversation."
                )
            ).format(phone=phone),
        )
