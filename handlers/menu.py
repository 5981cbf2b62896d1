"""Greeting and main menu: the entry to every journey, and the answer when nothing else fits.

Every menu answers to its button, its number and a typed word (DESIGN.md), and an unclear
message is never a dead end: the menu comes back with it. A wish said in words ("I want to
apply for help", "where is my request") starts its journey as the menu choice would.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.i18n import GREETING_WORDS, LANGUAGES, Translator, keywords, translator
from bot.models import Button
from bot.text import normalize_for_matching, parse_int
from handlers.base import N_, Flow, Handler, Turn
from handlers.choices import BACK_WORDS, CANCEL_WORDS, said

MENU_PREFIX = "menu:"
LANGUAGE_PREFIX = "lang:"


@dataclass(frozen=True)
class MenuEntry:
    """A main-menu line: the journey it starts and the words that choose it."""

    key: str
    title: str
    words: str
    flow: str
    # Phrases that, inside a short message, say the wish this journey answers.
    phrases: str = ""


MAIN_MENU: tuple[MenuEntry, ...] = (
    MenuEntry(
        "inquiries",
        N_("Questions and answers"),
        N_("questions, question, inquiry, inquiries, faq, ask"),
        "inquiries",
    ),
    MenuEntry(
        "support",
        N_("Apply for support"),
        N_("support, apply, support request, aid, assistance"),
        "support_request",
        N_(
            "apply for support, apply for aid, apply for help, request support, request help, "
            "submit a request, new request, want to apply, need help, need support, need aid"
        ),
    ),
    MenuEntry(
        "status",
        N_("Request status"),
        N_("status, request status, my request, track"),
        "request_status",
        N_(
            "where is my request, my request status, status of my request, check my request, "
            "track my request, follow up my request, what happened to my request"
        ),
    ),
    MenuEntry(
        "complaint",
        N_("Complaint or suggestion"),
        N_("complaint, complain, suggestion, feedback"),
        "complaint",
        N_(
            "make a complaint, file a complaint, want to complain, complain about, "
            "have a complaint, have a suggestion"
        ),
    ),
    MenuEntry(
        "staff",
        N_("Talk to staff"),
        N_("staff, employee, agent, human, talk to staff"),
        "handoff",
        N_(
            "talk to a person, talk to someone, speak to someone, speak to a person, real "
            "person, customer service, talk to an employee, call me"
        ),
    ),
    MenuEntry(
        "updates",
        N_("Updates subscription"),
        N_("updates, news, subscription"),
        "updates",
    ),
    MenuEntry(
        "privacy",
        N_("Privacy and my data"),
        N_("privacy, my data, data"),
        "privacy",
        N_("my data, my personal data, delete my data, what you hold about me, my information"),
    ),
)

# Translators: the name of this catalog's language, written in that language.
LANGUAGE_NAME = N_("English")
# Translators: comma-separated words that show the main menu from anywhere.
MENU_WORDS = N_("menu, main menu, home")


def other_language(language: str) -> str:
    return next(code for code in LANGUAGES if code != language)


def menu_buttons(t: Translator) -> list[Button]:
    """The main menu's buttons in the beneficiary's language; the last switches language."""
    return list(_menu_buttons(t.language))


@functools.cache
def _menu_buttons(language: str) -> tuple[Button, ...]:
    t = translator(language)
    buttons = [Button(MENU_PREFIX + entry.key, t.gettext(entry.title)) for entry in MAIN_MENU]
    other = other_language(t.language)
    buttons.append(Button(LANGUAGE_PREFIX + other, translator(other).gettext(LANGUAGE_NAME)))
    return tuple(buttons)


def chosen_button(turn: Turn) -> str | None:
    """The menu button a message means: pressed, typed as its number, or typed as a word."""
    if turn.message.button_id:
        return turn.message.button_id
    number = parse_int(turn.message.text)
    if number is not None:
        buttons = menu_buttons(turn.t)
        return buttons[number - 1].id if 1 <= number <= len(buttons) else None
    return _menu_words(turn.t.language).get(turn.text)


@functools.cache
def _menu_words(language: str) -> dict[str, str]:
    """Every word that chooses a menu line (in any language) and its title in `language`,
    normalised once: the button id each means. The menu's order settles a word two share."""
    t = translator(language)
    chosen: dict[str, str] = {}
    for entry in MAIN_MENU:
        for word in (*keywords(entry.words), normalize_for_matching(t.gettext(entry.title))):
            chosen.setdefault(word, MENU_PREFIX + entry.key)
    return chosen


# Translators: comma-separated words that make a message a question for the FAQ rather than
# a wish to start a journey ("what are the conditions to apply" is not "I want to apply").
INFORMATION_WORDS = N_(
    "conditions, requirements, required, documents, papers, eligible, eligibility, how long, "
    "how much, when"
)
# A wish is said in a few words; a longer message is a question for the FAQ.
MAX_WISH_WORDS = 8


def _padded(words: list[str] | tuple[str, ...]) -> str:
    """Words joined with a space on each side, so that a phrase is found only as whole words."""
    return f" {' '.join(words)} "


@functools.cache
def _wish_phrases() -> tuple[frozenset[str], tuple[tuple[int, str, MenuEntry], ...]]:
    """The information words and every entry's wish phrases (in every language), padded for
    whole-word search and longest first, worked out once: a message is matched against them
    with plain substring search instead of word-by-word comparisons."""
    information = frozenset(_padded(word.split()) for word in keywords(INFORMATION_WORDS))
    phrases: list[tuple[int, int, str, MenuEntry]] = []
    for order, entry in enumerate(MAIN_MENU):
        # The menu words of two or more words count as phrases too ("request status").
        candidates = set(keywords(entry.phrases)) if entry.phrases else set()
        candidates |= {word for word in keywords(entry.words) if " " in word}
        for candidate in candidates:
            words = candidate.split()
            phrases.append((len(words), order, _padded(words), entry))
    # The longest phrase wins; ties go to the menu's order.
    phrases.sort(key=lambda item: (-item[0], item[1]))
    return information, tuple((size, padded, entry) for size, _, padded, entry in phrases)


def intended_entry(turn: Turn) -> MenuEntry | None:
    """The journey a short message asks for in words ("I want to apply for help"), or None.

    The longest phrase found wins (ties go to the menu's order); a message that asks about
    conditions, documents or time is a question, left to the FAQ.
    """
    words = turn.text.split()
    if not words or len(words) > MAX_WISH_WORDS:
        return None
    text = _padded(words)
    information, phrases = _wish_phrases()
    if any(word in text for word in information):
        return None
    return next((entry for _, phrase, entry in phrases if phrase in text), None)


def show_menu(turn: Turn, lead: str | None = None) -> None:
    """Say `lead` (or the menu heading) with the main menu's buttons."""
    heading = turn.t.gettext(N_("Choose a service:"))
    text = f"{lead}\n\n{heading}" if lead else turn.t.gettext(N_("Main menu.")) + " " + heading
    turn.say(text, menu_buttons(turn.t))


# Translators: comma-separated forms of the greeting of peace, which is returned first.
SALAM_WORDS = N_(
    "salam, salaam, salam alaikum, assalamu alaikum, asalamu alaikum, peace be upon you"
)
# Translators: the answer to the greeting of peace, said before the welcome.
SALAM_REPLY = N_("Wa alaikum assalam!")


def greeted_with_salam(turn: Turn) -> bool:
    """Whether the message is, or begins with, the greeting of peace."""
    text = turn.text
    return any(text == word or text.startswith(word + " ") for word in keywords(SALAM_WORDS))


def greet(turn: Turn) -> None:
    """The welcome and the menu; the greeting of peace is returned before anything else."""
    t = turn.t
    welcome = t.gettext(N_("Welcome to {name}! How can we help you today?")).format(
        name=turn.profile.name.get(t.language)
    )
    if greeted_with_salam(turn):
        welcome = f"{t.gettext(SALAM_REPLY)} {welcome}"
    show_menu(turn, welcome)
    turn.state.greeted = True


class MenuWordHandler(Handler):
    """ "menu" in any state leaves the current journey and shows the main menu."""

    def check(self, turn: Turn) -> bool:
        return turn.text in keywords(MENU_WORDS)

    async def handle(self, turn: Turn) -> None:
        turn.state.enter(None)
        turn.state.misunderstood = 0
        show_menu(turn)


class MenuHandler(Handler):
    """The conversation's home: greets, starts the chosen journey, or asks again."""

    def __init__(
        self,
        flows: Mapping[str, Flow],
        free_text: Callable[[Turn], Awaitable[bool]] | None = None,
    ) -> None:
        self.flows = flows
        # Answers a message that is no menu choice (the FAQ); True when it said something.
        self.free_text = free_text

    async def handle(self, turn: Turn) -> None:
        choice = chosen_button(turn)
        wish = intended_entry(turn) if choice is None else None
        if (
            turn.text in keywords(GREETING_WORDS)
            or turn.text in keywords(SALAM_WORDS)
            or (not turn.state.greeted and choice is None and wish is None)
        ):
            greet(turn)
            return
        if not turn.state.greeted and wish is not None:  # a first message says its wish
            name = turn.profile.name.get(turn.t.language)
            turn.say(turn.t.gettext(N_("Welcome to {name}!")).format(name=name))
        turn.state.greeted = True
        if wish is not None:
            choice = MENU_PREFIX + wish.key
        if choice is None:
            if said(turn, CANCEL_WORDS) or said(turn, BACK_WORDS):
                # Nothing to cancel at the menu: not a misunderstanding either.
                turn.state.enter(None)
                show_menu(turn)
                return
            if self.free_text is not None and await self.free_text(turn):
                return
            show_menu(turn, turn.t.gettext(N_("Sorry, I did not understand your message.")))
            return
        turn.state.misunderstood = 0
        if choice.startswith(LANGUAGE_PREFIX):
            switch_language(turn, choice.removeprefix(LANGUAGE_PREFIX))
            return
        entry = next((e for e in MAIN_MENU if MENU_PREFIX + e.key == choice), None)
        if entry is None:
            show_menu(turn, turn.t.gettext(N_("That option is no longer available.")))
            return
        flow = self.flows.get(entry.flow)
        if flow is None:
            contact = turn.profile.contact
            show_menu(
                turn,
                turn.t.gettext(
                    N_(
                        "“{service}” is not available in this chat yet. Until it is, you can "
                        "reach us by phone on {phone} or by email at {email}."
                    )
                ).format(
                    service=turn.t.gettext(entry.title), phone=contact.phone, email=contact.email
                ),
            )
            return
        turn.state.enter(flow.name)
        await flow.start(turn)


# Translators: said in the language just chosen: "I will answer in <this language>".
LANGUAGE_CHOSEN = N_("From now on I will answer in English.")


def switch_language(turn: Turn, language: str) -> None:
    """Change the beneficiary's language and show the menu in it. A journey under way is
    left (a form's draft is kept and offered again when it is chosen)."""
    turn.switch_language(language)
    turn.state.enter(None)
    show_menu(turn, turn.t.gettext(LANGUAGE_CHOSEN))
