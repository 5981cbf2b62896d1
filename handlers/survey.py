"""The satisfaction survey after a closed request, complaint or conversation with staff.

The worker starts it (worker/surveys.py) once the profile's delay has passed and the
beneficiary is not in the middle of another journey: it saves the state below with the
question. From then on the router hands the answers here like any journey's: a rating from
1 to the profile's `scale_max` (a button, a number in any digits, or a word such as
"excellent" or "bad" in either language), then, for a low rating, an optional comment; a low
rating opens a follow-up for the quality officer (bot/storage/surveys.py). Anything that is
no rating leaves the survey and is answered as at the menu, so the survey is never a dead end.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.effects import CommentSurvey, RateSurvey
from bot.i18n import Translator, keywords
from bot.models import Button, OutboundMessage
from bot.profile import Profile
from bot.storage.references import TASK_PREFIX, new_reference
from bot.text import normalize_for_matching, parse_int
from handlers.base import N_, Flow, Handler, Turn
from handlers.choices import SKIP_WORDS, said
from handlers.menu import show_menu

NAME = "survey"
RATING, COMMENT = "rating", "comment"
BUTTON_PREFIX = "survey:"
# Journeys a survey may start over: none, browsing questions, the optional updates offer.
# Any other journey (a form half filled in, a code awaited) makes the survey wait.
INTERRUPTIBLE = frozenset({None, "inquiries", "updates"})
MAX_COMMENT = 2000
FOLLOW_UP_KIND = "survey_follow_up"

# Translators: the five answers of the satisfaction survey, from 1 (worst) to 5 (best), as
# buttons (at most 24 characters).
RATING_LABELS = (N_("Bad"), N_("Acceptable"), N_("Good"), N_("Very good"), N_("Excellent"))
# Translators: comma-separated words a beneficiary may type for each rating, 1 to 5.
RATING_WORDS = (
    N_("bad, very bad, terrible, poor, not satisfied, unsatisfied"),
    N_("acceptable, fair, so so"),
    N_("good, average, okay"),
    N_("very good, satisfied"),
    N_("excellent, very satisfied, great, perfect"),
)
# Translators: said before the survey question; {reference} is the closed case's number.
ABOUT_CASE = N_("About {reference}, which has been closed:")
ASK_AGAIN = N_("Please choose a number from 1 to {max}.")


def word_rating(text: str, scale_max: int) -> int | None:
    """The rating a word says (five levels, spread over the profile's scale)."""
    normalized = normalize_for_matching(text)
    for level, words in enumerate(RATING_WORDS):
        if normalized in keywords(words):
            return 1 + round(level * (scale_max - 1) / (len(RATING_WORDS) - 1))
    return None


def parse_rating(text: str, button_id: str | None, scale_max: int) -> int | None:
    """A rating from 1 to `scale_max`: a pressed button, a number in any digits or a word;
    None for anything else (a number out of range included)."""
    if button_id and button_id.startswith(BUTTON_PREFIX):
        value = parse_int(button_id.removeprefix(BUTTON_PREFIX))
    else:
        value = parse_int(text)
        if value is None:
            value = word_rating(text, scale_max)
    return value if value is not None and 1 <= value <= scale_max else None


def rating_buttons(t: Translator, scale_max: int) -> list[Button]:
    """1 (worst) first, so a typed number and the numbered list on SMS agree; on a scale
    of five the buttons carry words, on another the numbers."""
    if scale_max == len(RATING_LABELS):
        return [
            Button(f"{BUTTON_PREFIX}{n}", t.gettext(label))
            for n, label in enumerate(RATING_LABELS, 1)
        ]
    return [Button(f"{BUTTON_PREFIX}{n}", str(n)) for n in range(1, scale_max + 1)]


def interruptible(state: Mapping[str, Any] | None, handoff_open: bool) -> bool:
    """Whether a survey may be asked now: no journey under way, nobody from staff on it."""
    state = state or {}
    return state.get("flow") in INTERRUPTIBLE and not handoff_open


def invitation(
    profile: Profile,
    t: Translator,
    state: Mapping[str, Any] | None,
    survey_id: int,
    reference: str | None,
    expires_at: datetime,
    *,
    by_template: bool = False,
) -> tuple[OutboundMessage, dict[str, Any]]:
    """The question, and the conversation's state that waits for its answer. Asked
    `by_template` (WhatsApp's window had closed), a first reply that is no rating (a
    template's own button) is answered with the question itself, buttons and all."""
    question = _question(profile, t, reference)
    new_state = dict(state or {})
    # The journey it starts over (the FAQ, the updates question) is kept, to go back to.
    before = {key: new_state.get(key) for key in ("flow", "step", "data")}
    data: dict[str, Any] = {
        "survey": survey_id,
        "expires": expires_at.isoformat(),
        "before": before if before["flow"] else None,
    }
    if by_template:
        data.update(invited=True, reference=reference)
    new_state.update(flow=NAME, step=RATING, data=data, misunderstood=0)
    return OutboundMessage(question, tuple(rating_buttons(t, profile.survey.scale_max))), new_state


def _question(profile: Profile, t: Translator, reference: str | None) -> str:
    question = profile.survey.question.get(t.language)
    if reference:
        question = t.gettext(ABOUT_CASE).format(reference=reference) + "\n" + question
    return question


class SurveyFlow(Flow):
    """The survey's answers; what is no answer goes back to the journey the survey came
    over (a pressed FAQ suggestion, a yes to the updates question), else to `elsewhere`
    (the menu)."""

    name = NAME

    def __init__(self, elsewhere: Handler, flows: Mapping[str, Flow] | None = None) -> None:
        self.elsewhere = elsewhere
        self.flows = flows or {}

    async def start(self, turn: Turn) -> None:
        """Never chosen from the menu; should it be, there is nothing to rate."""
        turn.state.enter(None)
        show_menu(turn)

    async def handle(self, turn: Turn) -> None:
        data = turn.state.data
        survey_id = data.get("survey")
        expires = data.get("expires")
        if not isinstance(survey_id, int) or (
            isinstance(expires, str) and datetime.fromisoformat(expires) <= turn.now
        ):
            await self._leave(turn)
        elif turn.state.step == COMMENT:
            self._comment(turn, survey_id)
        else:
            await self._rate(turn, survey_id)

    async def _rate(self, turn: Turn, survey_id: int) -> None:
        survey = turn.profile.survey
        rating = parse_rating(turn.message.text, turn.message.button_id, survey.scale_max)
        if rating is None:
            if turn.state.data.pop("invited", False):  # the template's reply: now ask
                turn.say(
                    _question(turn.profile, turn.t, turn.state.data.get("reference")),
                    rating_buttons(turn.t, survey.scale_max),
                )
                return
            if parse_int(turn.message.text) is None:
                await self._leave(turn)  # a question, a menu choice by name...
                return
            turn.say(
                turn.t.gettext(ASK_AGAIN).format(max=survey.scale_max),
                rating_buttons(turn.t, survey.scale_max),
            )
            return
        low = rating <= survey.low_score_threshold
        follow_up = new_reference(TASK_PREFIX) if low else None
        turn.effect(RateSurvey(survey_id, rating, follow_up))
        if low:
            turn.state.step = COMMENT
            turn.say(survey.comment_prompt.get(turn.t.language))
            return
        self._done(turn)

    def _comment(self, turn: Turn, survey_id: int) -> None:
        comment = turn.message.text.strip()[:MAX_COMMENT]
        if comment and not said(turn, SKIP_WORDS):
            turn.effect(CommentSurvey(survey_id, comment))
        self._done(turn)

    def _done(self, turn: Turn) -> None:
        turn.state.enter(None)
        show_menu(turn, turn.profile.survey.thanks.get(turn.t.language))

    async def _leave(self, turn: Turn) -> None:
        """The beneficiary moved on: the survey stays unanswered (it expires)."""
        before = turn.state.data.get("before")
        turn.state.enter(None)
        if isinstance(before, dict):
            flow = self.flows.get(before.get("flow") or "")
            if flow is not None and flow.name != NAME:
                turn.state.enter(flow.name, before.get("step"))
                turn.state.data = dict(before.get("data") or {})
                if flow.check(turn):
                    await flow.handle(turn)
                    return
                turn.state.enter(None)
        await self.elsewhere.handle(turn)
