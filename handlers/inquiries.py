"""Inquiries: free-text questions answered from the association's own FAQ.

A clear match gets its answer, a near one "did you mean" with up to three choices, and
nothing good enough an honest "I don't know" with the offer of staff; two misunderstandings
in a row hand the conversation to staff (the policy: never a dead end).
"""

from __future__ import annotations

from bot.faq import FaqIndex
from bot.i18n import N_
from bot.models import Button
from handlers.base import Flow, Turn
from handlers.handoff import MISUNDERSTOOD, REQUESTED, hand_off

NAME = "inquiries"
TOPIC_PREFIX, ENTRY_PREFIX = "faq-topic:", "faq:"
STAFF = "handoff:ask"
MISUNDERSTANDINGS_BEFORE_HANDOFF = 2


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


async def understand(turn: Turn, index: FaqIndex) -> bool:
    """Answer the message from the FAQ if it can; False when it cannot (nothing said)."""
    result = index.search(turn.message.text, turn.t.language)
    if result.kind == "answer":
        return _answer(turn, result.matches[0].entry_id)
    if result.kind == "suggest":
        turn.state.misunderstood = 0
        turn.say(
            turn.t.gettext(N_("Did you mean one of these?")),
            [
                Button(ENTRY_PREFIX + match.entry_id, _question_title(turn, match.entry_id))
                for match in result.matches
            ],
        )
        return True
    return False


async def not_understood(turn: Turn) -> bool:
    """Count a misunderstanding; on the second in a row, hand over to staff (True)."""
    turn.state.misunderstood += 1
    if turn.state.misunderstood >= MISUNDERSTANDINGS_BEFORE_HANDOFF:
        turn.say(turn.t.gettext(N_("I am sorry I could not help. Let me bring in a colleague.")))
        await hand_off(turn, MISUNDERSTOOD)
        return True
    return False


class InquiriesFlow(Flow):
    name = NAME

    def __init__(self, index: FaqIndex) -> None:
        self.index = index

    async def start(self, turn: Turn) -> None:
        t = turn.t
        turn.say(
            t.gettext(N_("Write your question in your own words, or choose a topic:")),
            [
                Button(TOPIC_PREFIX + topic.id, topic.title.get(t.language))
                for topic in turn.profile.faq
            ],
        )

    async def handle(self, turn: Turn) -> None:
        button = turn.message.button_id or ""
        if button == STAFF:
            await hand_off(turn, REQUESTED)
            return
        if button.startswith(TOPIC_PREFIX):
            topic = turn.profile.get_faq_topic(button.removeprefix(TOPIC_PREFIX))
            if topic is not None:
                turn.say(
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
        turn.say(
            turn.t.gettext(
                N_(
                    "I do not know the answer to that yet. Try other words, or talk to a member "
                    "of our staff."
                )
            ),
            [Button(STAFF, turn.t.gettext(N_("Talk to staff")))],
        )
