"""The console's broadcast form, read and checked: the two texts, the audience (language,
channels, cities) and when to send (now, or a date and time in the association's time
zone). What it gives is the same `BroadcastSpec` that `tawasul broadcast create` builds, so
the console and the CLI send through one service (worker/broadcast_service.py)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from multidict import MultiDictProxy

from bot.i18n import N_
from bot.storage.broadcasts import BroadcastSpec
from bot.text import normalize_digits

# Long enough for any notice, short enough for a WhatsApp template's variable.
MAX_TEXT = 1000
LANGUAGES = ("ar", "en")
# Cities are typed one after another, separated by commas (Arabic or Latin) or new lines.
CITY_SEPARATORS = re.compile(r"[,\u060c\n]+")

# Translators: the broadcast form's messages when something is missing or wrong.
NO_TEXT_AR = N_("Write the update in Arabic: beneficiaries who use Arabic receive this text.")
NO_TEXT_EN = N_("Write the update in English: beneficiaries who use English receive this text.")
TOO_LONG = N_("The update is too long: at most 1,000 characters in each language.")
BAD_LANGUAGE = N_("Choose the beneficiaries' language from the list.")
BAD_CHANNEL = N_("Choose the channels from the list of channels that are on.")
NO_TIME = N_("Choose the date and time to send the update, or choose to send it now.")
BAD_TIME = N_("The date and time could not be read. Write them like 2027-03-01 09:00.")
PAST_TIME = N_("The time you chose has already passed. Choose a later time, or send it now.")


@dataclass(frozen=True)
class Draft:
    """What the manager typed, kept as typed so the form shows it again."""

    text_ar: str = ""
    text_en: str = ""
    language: str = ""  # "" for every language
    channels: tuple[str, ...] = ()
    cities_text: str = ""
    when: str = "now"  # or "later"
    at_text: str = ""
    at: datetime | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def cities(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in CITY_SEPARATORS.split(self.cities_text) if c.strip())

    def spec(self, created_by: str = "console") -> BroadcastSpec:
        return BroadcastSpec(
            text_ar=self.text_ar,
            text_en=self.text_en,
            channels=self.channels,
            language=self.language or None,
            cities=self.cities,
            at=self.at if self.when == "later" else None,
            created_by=created_by,
        )


def _text(form: MultiDictProxy[str | bytes], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def read_draft(
    form: MultiDictProxy[str | bytes], channels_on: Collection[str], tz: tzinfo, now: datetime
) -> Draft:
    """The draft in a posted form, with what is wrong in it (msgids, in the form's order)."""
    problems: list[str] = []
    text_ar, text_en = _text(form, "text_ar"), _text(form, "text_en")
    if not text_ar:
        problems.append(NO_TEXT_AR)
    if not text_en:
        problems.append(NO_TEXT_EN)
    if len(text_ar) > MAX_TEXT or len(text_en) > MAX_TEXT:
        problems.append(TOO_LONG)
    language = _text(form, "language")
    if language and language not in LANGUAGES:
        problems.append(BAD_LANGUAGE)
        language = ""
    chosen = [c for c in form.getall("channel", []) if isinstance(c, str)]
    if any(c not in channels_on for c in chosen):
        problems.append(BAD_CHANNEL)
    channels = tuple(c for c in channels_on if c in chosen)
    when = "later" if _text(form, "when") == "later" else "now"
    at_text = normalize_digits(_text(form, "at"))
    at: datetime | None = None
    if when == "later":
        at, problem = _moment(at_text, tz, now)
        if problem:
            problems.append(problem)
    return Draft(
        text_ar, text_en, language, channels, _text(form, "cities"), when, at_text, at, problems
    )


def _moment(value: str, tz: tzinfo, now: datetime) -> tuple[datetime | None, str | None]:
    """A date and time typed in the association's time zone (the browser's date-time field
    sends 2027-03-01T09:00); Arabic-Indic digits are read too."""
    if not value:
        return None, NO_TIME
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, BAD_TIME
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if moment <= now:
        return moment, PAST_TIME
    return moment, None


def local_input(moment: datetime | None, tz: tzinfo) -> str:
    """A moment as the date-time field shows it, in the association's time zone."""
    return "" if moment is None else moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
