"""Language choice: typing a language's name switches, in any state."""

from __future__ import annotations

from bot.i18n import keywords
from handlers.base import N_, Handler, Turn
from handlers.menu import LANGUAGE_PREFIX, switch_language

# Translators: comma-separated words that switch to English (include the Arabic names).
TO_ENGLISH = N_("english, in english, en")
# Translators: comma-separated words that switch to Arabic (include the Arabic names).
TO_ARABIC = N_("arabic, in arabic, ar")
WORDS = {"en": TO_ENGLISH, "ar": TO_ARABIC}


def requested_language(turn: Turn) -> str | None:
    button = turn.message.button_id or ""
    if button.startswith(LANGUAGE_PREFIX):
        return button.removeprefix(LANGUAGE_PREFIX)
    return next((code for code, words in WORDS.items() if turn.text in keywords(words)), None)


class LanguageHandler(Handler):
    def check(self, turn: Turn) -> bool:
        return requested_language(turn) is not None

    async def handle(self, turn: Turn) -> None:
        language = requested_language(turn)
        if language is not None:
            switch_language(turn, language)
