"""Reference numbers: what a beneficiary keeps and reads out to follow a record up.

A reference is made in Python when the record is decided (the handler tells it in the same
turn, before the turn is saved): a letter for the kind of record, then eight random digits
and a check digit (Luhn's, which catches one wrong digit and most swapped pairs). Random, so
one beneficiary's number tells nothing of anyone else's; the unique index on each reference
column catches the one-in-a-hundred-million clash.
"""

from __future__ import annotations

import secrets

from bot.text import normalize_digits

REQUEST_PREFIX, COMPLAINT_PREFIX, TASK_PREFIX = "R", "C", "T"
RANDOM_DIGITS = 8
MAX_TYPED_DIGITS = 12
# The fewest digits a reference was ever given: before these random ones, references counted
# up from R-100001.
MIN_GIVEN_DIGITS = 6


def check_digit(digits: str) -> str:
    """Luhn's check digit for a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: the check digit will stand to their right
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def new_reference(prefix: str) -> str:
    """A fresh reference such as "R-482139075"."""
    digits = f"{secrets.randbelow(10**RANDOM_DIGITS):0{RANDOM_DIGITS}d}"
    return f"{prefix}-{digits}{check_digit(digits)}"


def typed_reference(prefix: str, text: str) -> str | None:
    """The reference a beneficiary typed ("R-482139075", "r 4821 3907 5", or in Arabic-Indic
    digits) in its stored form; None when there are no digits to look for."""
    digits = "".join(ch for ch in normalize_digits(text) if ch.isdigit())
    if not digits or len(digits) > MAX_TYPED_DIGITS:
        return None
    return f"{prefix}-{digits}"


def ever_given(reference: str) -> bool:
    """Whether a reference in its stored form is long enough to have been given: a menu
    number typed at the reference prompt ("2") names nothing, and is answered so without
    asking the database."""
    return len(reference) - reference.index("-") - 1 >= MIN_GIVEN_DIGITS
