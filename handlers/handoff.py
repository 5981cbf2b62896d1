"""Talk to staff: the conversation goes to the contact officer of its domain (the policies'
"one contact officer per domain"), and the bot stays quiet — opt-out words still work — until
staff close it."""

from __future__ import annotations

from bot.effects import OpenHandoff
from bot.i18n import N_
from handlers.base import Flow, Handler, Turn

REQUESTED, MISUNDERSTOOD, FROM_FORM = "requested", "misunderstood", "form"


async def hand_off(turn: Turn, reason: str, domain_id: str | None = None) -> None:
    """Open a hand-off to the domain's officer and tell the beneficiary when to expect them."""
    profile = turn.profile
    domain = (profile.get_domain(domain_id) if domain_id else None) or profile.default_domain()
    # Saved with the turn, which then names the hand-off in `state.handoff`.
    turn.effect(OpenHandoff(domain.id, domain.officer.email, reason))
    turn.state.enter(None)
    turn.state.misunderstood = 0
    t = turn.t
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
    turn.say(text)


class HandoffFlow(Flow):
    """ "Talk to staff" from the menu."""

    name = "handoff"

    async def start(self, turn: Turn) -> None:
        await hand_off(turn, REQUESTED)

    async def handle(self, turn: Turn) -> None:
        await hand_off(turn, REQUESTED)


class StaffHasConversation(Handler):
    """While staff hold the conversation the bot says nothing; the messages are recorded for
    them. Once staff close the hand-off, the turn passes on as usual."""

    def check(self, turn: Turn) -> bool:
        return turn.state.handoff is not None

    async def handle(self, turn: Turn) -> bool | None:
        if turn.state.handoff is not None and await turn.records.handoff_open(turn.state.handoff):
            return None
        turn.state.handoff = None
        return False
