"""Inquiries: free-text questions answered from the association's own FAQ.

A clear match gets its answer, a near one "did you mean" with up to three choices, and
nothing good enough an honest "I don't know" with the offer of staff; after two
misunderstandings in a row the bot offers a person and the menu (the policy: never a dead
end) — it never hands the conversation over unasked, which would silence the bot.
"""

from __future__ import annotations

from bot.effects import FAQ_SUGGESTED, FAQ_UNANSWERED, FaqMissed
from bot.faq import FaqIndex
from bot.i18n import N_
from bot.models import Button
from handlers.base import Flow, Turn
from handlers.choices import choose
from handlers.handoff import REQUESTED, hand_off
from handlers.menu import intended_entry, show_menu

NAME = "inquiries"
TOPIC_PREFIX, ENTRY_PREFIX = "faq-topic:", "faq:"
STAFF = "handoff:ask"
MISUNDERSTANDINGS_BEFORE_OFFER = 2
# The buttons last offered, kept in the conversation's data: on SMS and email they are a
# numbered list, and a typed number (or title) chooses as a press does.
OFFERED = "offered"


def _offer(turn: Turn, text: str, buttons: list[Button]) -> None:
    turn.say(text, buttons)
    turn.state.data[OFFERED] = [[button.id, button.title] for button in buttons]


def _typed_choice(turn: Turn) -> str:
    """The button pressed, or the offered one whose number or title was typed ("" if none)."""
    if turn.message.button_id:
        return turn.message.button_id
    offered = [Button(id_, title) for id_, title in turn.state.data.get(OFFERED) or []]
    return choose(turn, offered) or ""


def _question_title(turn: Turn, entry_id: str) -> str:
    entry = turn.profile.get_faq_entry(entry_id)
    if entry is None:
        return entry_id
    return entry.questions.get(turn.t.language)[0]


def _answer(turn: Turn, entry_id: str) -> bool:
    entry = turn.profile.get_faq_entry(entry_id)
    if entry is None:
        return False
    turn.state.misunderstood = 0
    turn.say(
        entry.answer.get(turn.t.language)
        + "\n\n"
        + turn.t.gettext(N_("Anything else? Write another question, or “menu”."))
    )
    return True


def _missed(turn: Turn, kind: str) -> None:
    """Keep on the message's row that the FAQ missed it (the reports, the FAQ to learn)."""
    if turn.message_id is not None and turn.message.text.strip():
        turn.effect(FaqMissed(turn.message_id, kind))


async def understand(turn: Turn, index: FaqIndex) -> bool:
    """Answer the message from the FAQ if it can; False when it cannot (nothing said)."""
    result = index.search(turn.message.text, turn.t.language)
    if result.kind == "answer":
        return _answer(turn, result.matches[0].entry_id)
    if result.kind == "suggest":
        _missed(turn, FAQ_SUGGESTED)
        turn.state.misunderstood = 0
        if turn.state.flow != NAME:  # asked at the menu: the choice is this journey's
            turn.state.enter(NAME)
        _offer(
            turn,
            turn.t.gettext(N_("Did you mean one of these?")),
            [
                Button(ENTRY_PREFIX + match.entry_id, _question_title(turn, match.entry_id))
                for match in result.matches
            ],
        )
        return True
    _missed(turn, FAQ_UNANSWERED)
    return False


async def not_understood(turn: Turn) -> bool:
    """Count a misunderstanding; on the second in a row, offer a person and the menu (True).

    Only an offer: the beneficiary chooses "Talk to staff" if they want one, and otherwise
    goes on with the bot.
    """
    turn.state.misunderstood += 1
    if turn.state.misunderstood < MISUNDERSTANDINGS_BEFORE_OFFER:
        return False
    turn.state.misunderstood = 0
    turn.state.enter(None)
    show_menu(
        turn,
        turn.t.gettext(
            N_(
                "I am sorry I could not help with that. If you wish, one of our staff can "
                "answer you: choose “Talk to staff” below."
            )
        ),
    )
    return True


class InquiriesFlow(Flow):
    name = NAME

    def __init__(self, index: FaqIndex) -> None:
        self.index = index

    def check(self, turn: Turn) -> bool:
        """A wish said in words ("I want to complain") goes to the menu, which starts it."""
        return turn.message.button_id is not None or intended_entry(turn) is None

    async def start(self, turn: Turn) -> None:
        t = turn.t
        _offer(
            turn,
            t.gettext(N_("Write your question in your own words, or choose a topic:")),
            [
                Button(TOPIC_PREFIX + topic.id, topic.title.get(t.language))
                for topic in turn.profile.faq
            ],
        )

    async def handle(self, turn: Turn) -> None:
        button = _typed_choice(turn)
        if button == STAFF:
            await hand_off(turn, REQUESTED)
            return
        if button.startswith(TOPIC_PREFIX):
            topic = turn.profile.get_faq_topic(button.removeprefix(TOPIC_PREFIX))
            if topic is not None:
                _offer(
                    turn,
                    topic.title.get(turn.t.language),
                    [
                        Button(ENTRY_PREFIX + e.id, _question_title(turn, e.id))
                        for e in topic.entries
                    ],
                )
                return
        if button.startswith(ENTRY_PREFIX) and _answer(turn, button.removeprefix(ENTRY_PREFIX)):
            return
        if await understand(turn, self.index):
            return
        if await not_understood(turn):
            return
        _offer(
            turn,
            turn.t.gettext(
                N_(
                    "I do not know the answer to that yet. Try other words, or talk to a member "
                    "of our staff."
                )
            ),
            [Button(STAFF, turn.t.gettext(N_("Talk to staff")))],
        )
