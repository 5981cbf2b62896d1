"""One open support request per national ID, and what each person may be told about it.

Its own module because it is a privacy rule, not a step of the form: only the contact who
filed the open request hears its reference; anyone else typing that ID learns nothing of it
(a stranger could otherwise probe IDs and collect references) and is offered a person.
"""

from __future__ import annotations

from bot.i18n import N_
from bot.storage.reads import OpenRequest
from handlers.base import Turn
from handlers.menu import show_menu

# To the contact who filed the open request for this ID, and to anyone else (no reference).
ALREADY_OPEN = N_(
    "There is already an open request for this national ID, number {reference}. "
    "Only one open request is allowed; you can follow it with “Request status”."
)
ID_CANNOT_BE_USED = N_(
    "This national ID cannot be used for a new request. If you think this is a mistake, or "
    "you need help, our staff will gladly look into it with you: choose “Talk to staff”."
)


def tell_already_open(turn: Turn, existing: OpenRequest, form: str) -> None:
    """End the form `form` and say why: its reference to its author, nothing to anyone else."""
    turn.state.drafts.pop(form, None)
    turn.state.enter(None)
    t = turn.t
    if not existing.mine:
        show_menu(turn, t.gettext(ID_CANNOT_BE_USED))
        return
    show_menu(turn, t.gettext(ALREADY_OPEN).format(reference=existing.reference))
