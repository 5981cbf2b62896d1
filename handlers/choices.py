"""Words and choices every journey understands: yes/no, back, cancel, skip, and picking one
of several buttons by pressing it, typing its number, or typing its title."""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import N_, Translator, keywords
from bot.models import Button
from bot.text import normalize_for_matching, parse_int
from handlers.base import Turn

# Translators: comma-separated words meaning "yes" (accept, agree).
YES_WORDS = N_("yes, y, yeah, yep, sure, ok, okay, agree, i agree, confirm, i confirm")
# Translators: comma-separated words meaning "no".
NO_WORDS = N_("no, n, no thanks, no thank you, disagree")
# Translators: comma-separated words that abandon the current form.
CANCEL_WORDS = N_("cancel, exit")
# Translators: comma-separated words that go back to the previous question.
BACK_WORDS = N_("back, previous")
# Translators: comma-separated words that skip an optional question.
SKIP_WORDS = N_("skip, none, nothing, no attachment")

# Translators: comma-separated words asking for a member of staff in the middle of a form.
STAFF_WORDS = N_("staff, employee, agent, human, talk to staff, help me")

YES, NO = "yes", "no"


def said(turn: Turn, words: str) -> bool:
    """Whether the whole message is one of the words (in any language)."""
    return turn.text in keywords(words)


def choose(turn: Turn, buttons: Sequence[Button]) -> str | None:
    """The id of the button the message means: pressed, its number, or its title typed."""
    ids = {button.id for button in buttons}
    if turn.message.button_id in ids:
        return turn.message.button_id
    number = parse_int(turn.message.text)
    if number is not None:
        return buttons[number - 1].id if 1 <= number <= len(buttons) else None
    text = turn.text
    for button in buttons:
        if text and text == normalize_for_matching(button.title):
            return button.id
    return None


def yes_no(turn: Turn) -> str | None:
    """YES, NO or None, from a button, a number (1 yes, 2 no) or a word."""
    chosen = choose(turn, yes_no_buttons(turn.t))
    if chosen is not None:
        return chosen
    if said(turn, YES_WORDS):
        return YES
    if said(turn, NO_WORDS):
        return NO
    return None


def yes_no_buttons(t: Translator) -> list[Button]:
    return [Button(YES, t.gettext(N_("Yes"))), Button(NO, t.gettext(N_("No")))]
