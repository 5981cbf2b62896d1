"""The privacy menu (policy 004): its options and how it is shown.

Its own module because two journeys return to it: privacy itself, and the privacy-violation
report, which is a complaint (handlers/complaint.py) started from here.
"""

from __future__ import annotations

from bot.i18n import Translator
from bot.models import Button
from handlers.base import N_, Turn
from handlers.choices import choose, said

NAME = "privacy"
CHOOSE = "choose"
NOTICE, SUMMARY, DELETE, REPORT = (
    "privacy:notice",
    "privacy:summary",
    "privacy:delete",
    "privacy:report",
)

# Each option: its button title, and the words that choose it when typed.
OPTIONS: tuple[tuple[str, str, str], ...] = (
    (
        NOTICE,
        N_("Privacy notice"),
        # Translators: comma-separated words that ask for the privacy notice.
        N_("notice, privacy notice, policy, privacy policy"),
    ),
    (
        SUMMARY,
        N_("Data you hold on me"),
        # Translators: comma-separated words that ask what data the association holds.
        N_("my data, what you hold, data you hold, summary"),
    ),
    (
        DELETE,
        N_("Delete my data"),
        # Translators: comma-separated words that ask to delete one's data.
        N_("delete, deletion, delete my data, erase"),
    ),
    (
        REPORT,
        N_("Report a violation"),
        # Translators: comma-separated words that report a privacy violation.
        N_("report, violation, report a violation, privacy violation"),
    ),
)

PROMISE = N_(
    "Your data is confidential: we do not disclose it to anyone else unless a judicial or "
    "regulatory authority orders it, and we send you our news only if you agree."
)
WHAT_NEXT = N_("What would you like to do?")


def option_buttons(t: Translator) -> list[Button]:
    return [Button(option_id, t.gettext(title)) for option_id, title, _ in OPTIONS]


def chosen_option(turn: Turn) -> str | None:
    """The option a message means: its button, its number, its title or one of its words."""
    chosen = choose(turn, option_buttons(turn.t))
    if chosen is not None:
        return chosen
    return next((option_id for option_id, _, words in OPTIONS if said(turn, words)), None)


def show_privacy_options(turn: Turn, lead: str | None = None) -> None:
    """The privacy menu, under what the association promises about the beneficiary's data."""
    turn.state.enter(NAME, CHOOSE)
    t = turn.t
    turn.say(f"{lead or t.gettext(PROMISE)}\n\n{t.gettext(WHAT_NEXT)}", option_buttons(t))
