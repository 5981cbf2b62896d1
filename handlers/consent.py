"""Consent to receive the association's updates (policy 004: electronic consent first).

"Updates subscription" from the menu shows whether the contact receives updates and asks the
profile's question; `offer_updates_once` asks the same question once per conversation at the
end of the first completed journey. Every yes or no is a consent record with time, channel and
the profile's wording version; anything else records nothing.
"""

from __future__ import annotations

from bot.effects import RecordConsent
from handlers.base import N_, Flow, Turn
from handlers.choices import BACK_WORDS, CANCEL_WORDS, YES, said, yes_no, yes_no_buttons
from handlers.menu import show_menu

NAME = "updates"
PURPOSE = "updates"
SOURCE = "question"
ANSWER = "answer"
# What the conversation's data remembers about the question while it waits for the answer.
OFFERED, CONSENT_BEFORE = "offered", "consent_before"

SUBSCRIBED = N_(
    "Done: you are subscribed to updates from {name}. To stop them at any time, send STOP."
)
DECLINED = N_(
    "Understood: we will not send you updates from {name}. You can still write to us at any "
    "time, and if you change your mind, send START."
)
ANSWER_YES_NO = N_("Please answer with “Yes” or “No”.")
NOTHING_CHANGED = N_("Nothing was changed.")


async def _current_consent(turn: Turn) -> bool | None:
    """The contact's latest answer for updates: True, False, or None if never given."""
    return (await turn.records.summary(turn.contact_id)).updates_consent


def _ask(turn: Turn, consent: bool | None, *, offered: bool, lead: str | None = None) -> None:
    """Say the profile's question with yes/no buttons and wait for the answer."""
    turn.state.enter(NAME, ANSWER)
    turn.state.data.update({OFFERED: offered, CONSENT_BEFORE: consent})
    question = turn.profile.consent.updates_question.get(turn.t.language)
    turn.say(f"{lead}\n\n{question}" if lead else question, yes_no_buttons(turn.t))


def _home(turn: Turn) -> None:
    """Back to the main menu, under the last reply when it has no buttons of its own."""
    last = turn.replies[-1] if turn.replies else None
    if last is not None and not last.buttons and not last.media and last.template is None:
        turn.replies.pop()
        show_menu(turn, last.text)
    else:
        show_menu(turn)


async def offer_updates_once(turn: Turn) -> bool:
    """End a completed journey: ask the updates question once per conversation (after the
    replies already said), or, when it was asked before or the contact has already answered
    (even by STOP or START), put the main menu under the last reply. True if it asked."""
    if not turn.state.consent_asked:
        turn.state.consent_asked = True
        consent = await _current_consent(turn)
        if consent is None:
            _ask(turn, consent, offered=True)
            return True
    turn.state.enter(None)
    _home(turn)
    return False


def _name(turn: Turn) -> str:
    return turn.profile.name.get(turn.t.language)


class UpdatesFlow(Flow):
    """ "Updates subscription": the current answer, the question, and the new answer recorded."""

    name = NAME

    def check(self, turn: Turn) -> bool:
        """The question offered at a journey's end takes only a yes or a no: anything else is
        "not now", and goes to the menu as if the question had not been asked."""
        if turn.state.data.get(OFFERED) and yes_no(turn) is None:
            turn.state.enter(None)
            return False
        return True

    async def start(self, turn: Turn) -> None:
        consent = await _current_consent(turn)
        t = turn.t
        if consent is True:
            status = t.gettext(N_("You currently receive updates from {name}."))
        elif consent is False:
            status = t.gettext(N_("You do not currently receive updates from {name}."))
        else:
            status = t.gettext(N_("You have not subscribed to updates from {name} yet."))
        _ask(turn, consent, offered=False, lead=status.format(name=_name(turn)))

    async def handle(self, turn: Turn) -> None:
        t = turn.t
        if turn.state.step != ANSWER:
            await self.start(turn)
            return
        if said(turn, CANCEL_WORDS) or said(turn, BACK_WORDS):
            turn.state.enter(None)
            show_menu(turn, t.gettext(NOTHING_CHANGED))
            return
        answer = yes_no(turn)
        if answer is None:
            turn.say(
                t.gettext(ANSWER_YES_NO)
                + "\n\n"
                + turn.profile.consent.updates_question.get(t.language),
                yes_no_buttons(t),
            )
            return
        consent = await _current_consent(turn)
        if consent != turn.state.data.get(CONSENT_BEFORE):
            # STOP or START was sent since the question: that answer stands, and this
            # message is not an answer to a question the contact has moved past.
            turn.state.enter(None)
            show_menu(turn)
            return
        granted = answer == YES
        version = turn.profile.consent.wording_version
        turn.effect(RecordConsent(PURPOSE, granted, SOURCE, version))
        turn.state.enter(None)
        show_menu(turn, t.gettext(SUBSCRIBED if granted else DECLINED).format(name=_name(turn)))
