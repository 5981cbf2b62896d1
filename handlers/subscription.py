"""Opt-out and opt-in words: they work in any state, on any channel, at once.

Each is recorded as a consent record for the "updates" purpose (with time, channel and the
profile's wording version); a stopped contact gets no broadcast until they opt in again.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.effects import RecordConsent
from bot.i18n import keywords
from handlers.base import N_, Flow, Handler, Turn

UPDATES = "updates"
# Translators: comma-separated words that stop updates (opt out); never "cancel".
OPT_OUT_WORDS = N_("stop, stopall, unsubscribe, opt out, end updates")
# Translators: comma-separated words that start updates again (opt in).
OPT_IN_WORDS = N_("start, subscribe, unstop, opt in")


def ask_again(turn: Turn, flows: Mapping[str, Flow]) -> None:
    """The word answered mid-journey (a form's question): the journey's question again, so
    the beneficiary is not left wondering whether it still waits for them."""
    flow = flows.get(turn.state.flow or "")
    if flow is not None:
        flow.ask_again(turn)


class OptOutHandler(Handler):
    def __init__(self, flows: Mapping[str, Flow] | None = None) -> None:
        self.flows = flows or {}

    def check(self, turn: Turn) -> bool:
        return turn.text in keywords(OPT_OUT_WORDS)

    async def handle(self, turn: Turn) -> None:
        turn.effect(RecordConsent(UPDATES, False, "keyword", turn.profile.consent.wording_version))
        name = turn.profile.name.get(turn.t.language)
        turn.say(
            turn.t.gettext(
                N_(
                    "Done: you will no longer receive updates from {name}. You can still "
                    "write to us at any time. To subscribe again, send START."
                )
            ).format(name=name)
        )
        ask_again(turn, self.flows)


class OptInHandler(Handler):
    def __init__(self, flows: Mapping[str, Flow] | None = None) -> None:
        self.flows = flows or {}

    def check(self, turn: Turn) -> bool:
        return turn.text in keywords(OPT_IN_WORDS)

    async def handle(self, turn: Turn) -> None:
        turn.effect(RecordConsent(UPDATES, True, "keyword", turn.profile.consent.wording_version))
        name = turn.profile.name.get(turn.t.language)
        turn.say(
            turn.t.gettext(
                N_(
                    "Done: you are subscribed to updates from {name}. To stop them at any "
                    "time, send STOP."
                )
            ).format(name=name)
        )
        ask_again(turn, self.flows)
