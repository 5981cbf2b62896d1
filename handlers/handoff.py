"""Talk to staff: the conversation goes to the contact officer of its domain (the policies'
"one contact officer per domain"), and the bot stays quiet — opt-out words still work — until
staff close it, or until the beneficiary writes a menu word to come back to the bot (told so
when the hand-off starts): the hand-off then stays open for staff, who see everything. If
nobody has answered within the profile's response time (counted from the next opening when it
starts outside working hours), the beneficiary is told what happens next (worker/handoff.py)
rather than left in silence."""

from __future__ import annotations

from datetime import datetime

from bot.effects import OpenHandoff
from bot.i18n import N_
from bot.profile import Profile
from bot.work_calendar import handoff_response_due
from handlers.base import Flow, Handler, Turn
from handlers.choices import CANCEL_WORDS, said
from handlers.menu import MENU_WORDS, show_menu

REQUESTED, MISUNDERSTOOD, FROM_FORM = "requested", "misunderstood", "form"


def answer_due(profile: Profile, now: datetime) -> datetime:
    """When staff should have answered a hand-off opened at `now`: the profile's response
    time, counted from now while open, or from the next opening outside working hours."""
    return handoff_response_due(profile, now)


async def hand_off(turn: Turn, reason: str, domain_id: str | None = None) -> None:
    """Open a hand-off to the domain's officer and tell the beneficiary when to expect them."""
    profile = turn.profile
    domain = (profile.get_domain(domain_id) if domain_id else None) or profile.default_domain()
    t = turn.t
    reminder = t.gettext(
        N_(
            "We are sorry for the wait: our officer has not been able to answer you yet. Your "
            "conversation is still with them, and they will answer you here as soon as they "
            "can. If your matter is urgent, you can call us on {phone}. To go back to the "
            "automatic service, write “menu”."
        )
    ).format(phone=profile.contact.phone)
    # Saved with the turn, which then names the hand-off in `state.handoff`.
    turn.effect(
        OpenHandoff(
            domain.id,
            domain.officer.email,
            reason,
            remind_at=answer_due(profile, turn.now),
            reminder=reminder,
        )
    )
    turn.state.enter(None)
    turn.state.misunderstood = 0
    area, officer = domain.label.get(t.language), domain.officer.name  # named, as the profile does
    if profile.is_open(turn.now):
        hours = profile.sla.handoff_response_hours
        when = t.ngettext("within {n} hour", "within {n} hours", hours).format(n=hours)
        text = t.gettext(
            N_(
                "I have passed your conversation to {officer}, our officer for {area}, who "
                "will answer you here {when}. Your messages here will reach them."
            )
        ).format(officer=officer, area=area, when=when)
    else:
        opening = profile.next_opening(turn.now)
        text = t.gettext(
            N_(
                "We are outside working hours now. I have passed your conversation to "
                "{officer}, our officer for {area}, who will answer you here from {opening}. "
                "Your messages here will reach them."
            )
        ).format(
            officer=officer,
            area=area,
            opening=t.format_datetime(opening, profile.timezone) if opening else "",
        )
    way_back = t.gettext(
        N_(
            "To come back to the automatic service at any time, write “menu”; your "
            "conversation stays open for our officer."
        )
    )
    turn.say(f"{text}\n{way_back}")


class HandoffFlow(Flow):
    """ "Talk to staff" from the menu."""

    name = "handoff"

    async def start(self, turn: Turn) -> None:
        await hand_off(turn, REQUESTED)

    async def handle(self, turn: Turn) -> None:
        await hand_off(turn, REQUESTED)


class StaffHasConversation(Handler):
    """While staff hold the conversation the bot says nothing; the messages are recorded for
    them. A menu word (or "cancel") brings the beneficiary back to the bot, leaving the
    hand-off open for staff. Once staff close the hand-off, the turn passes on as usual."""

    def check(self, turn: Turn) -> bool:
        return turn.state.handoff is not None

    async def handle(self, turn: Turn) -> bool | None:
        if turn.state.handoff is None or not await turn.records.handoff_open(turn.state.handoff):
            turn.state.handoff = None
            return False
        if said(turn, MENU_WORDS) or said(turn, CANCEL_WORDS):
            turn.state.handoff = None
            turn.state.enter(None)
            turn.state.misunderstood = 0
            show_menu(
                turn,
                turn.t.gettext(
                    N_(
                        "You are back with the automatic service. Your conversation with our "
                        "officer stays open, and they can still answer you here."
                    )
                ),
            )
        return None
