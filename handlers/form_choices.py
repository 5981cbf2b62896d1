"""The support request's own choices: the words and buttons of its resume question, summary
and attestation. The same buttons are shown and read back, so typing an option's title or
number chooses it as pressing it does; the words catch what people type instead ("edit",
"continue")."""

from __future__ import annotations

from bot.i18n import N_
from bot.models import Button
from handlers.base import Turn

CONTINUE, RESTART = "draft:continue", "draft:restart"
SUBMIT, EDIT, CANCEL = "form:submit", "form:edit", "form:cancel"
ATTEST = "form:attest"
# Translators: comma-separated words that finish sending attachments.
DONE_WORDS = N_("done, finished, that's all")
# Translators: comma-separated words that resume an unfinished application.
CONTINUE_WORDS = N_("continue, resume, go on, carry on")
# Translators: comma-separated words that confirm the summary and go on to submit.
SUBMIT_WORDS = N_("submit, send, confirm and send")
# Translators: comma-separated words that ask to change an answer in the summary.
EDIT_WORDS = N_("edit, change, modify, correct")
# Where a text typed at a documents question is kept (":" never occurs in a field's id).
NOTE_SUFFIX = ":note"


def resume_buttons(turn: Turn) -> list[Button]:
    return [
        Button(CONTINUE, turn.t.gettext(N_("Continue"))),
        Button(RESTART, turn.t.gettext(N_("Start again"))),
    ]


def summary_buttons(turn: Turn) -> list[Button]:
    return [
        Button(SUBMIT, turn.t.gettext(N_("Confirm and submit"))),
        Button(EDIT, turn.t.gettext(N_("Change an answer"))),
        Button(CANCEL, turn.t.gettext(N_("Cancel the application"))),
    ]


def attestation_buttons(turn: Turn) -> list[Button]:
    return [
        Button(ATTEST, turn.t.gettext(N_("I confirm"))),
        Button(CANCEL, turn.t.gettext(N_("Cancel the application"))),
    ]
