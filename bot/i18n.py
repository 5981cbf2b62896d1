"""Per-beneficiary translation: Babel/gettext catalogs, numbers, Hijri + Gregorian dates.

Every beneficiary has their own language, so there is no global "current language" and
``gettext.install`` is never called: callers ask :func:`translator` for the contact's
language and use that object. Catalogs live in ``locales/<lang>/LC_MESSAGES/tawasul.po``
(domain ``tawasul``) and are compiled to ``.mo`` by ``make``; a missing or stale ``.mo`` is
compiled in memory from the ``.po`` so a developer who forgot ``make`` still sees translations.

Dates are shown in Hijri (Umm al-Qura, via ``hijridate``; Babel has no Hijri calendar) beside
Gregorian, with Western digits in both languages: beneficiaries type numbers back, and many
read on basic phones.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import logging
import os
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import babel.dates
import babel.numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from hijridate import Gregorian

from bot.text import normalize_digits, normalize_for_matching

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALES_DIR",
    "N_",
    "Translator",
    "keywords",
    "load_translations",
    "translator",
]

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("ar", "en")
DEFAULT_LANGUAGE = "ar"
DOMAIN = "tawasul"
LOCALES_DIR: Path = Path(
    os.environ.get("TAWASUL_LOCALES_DIR") or Path(__file__).resolve().parent.parent / "locales"
)

_RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
# Same pattern in both languages: Babel gives "2:30 PM" / "2:30 <Arabic pm mark>".
_TIME_PATTERN = "h:mm a"
_GREGORIAN_PATTERN = "d MMMM y"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it (translated later, per contact)."""
    return message


def _catalog_paths(language: str, locales_dir: Path) -> tuple[Path, Path]:
    base = locales_dir / language / "LC_MESSAGES" / DOMAIN
    return base.with_suffix(".po"), base.with_suffix(".mo")


def _compile_po(po_path: Path, language: str) -> Translations:
    """Compile a .po in memory, the same way ``pybabel compile`` would (fuzzy skipped)."""
    with po_path.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def load_translations(language: str, locales_dir: Path | None = None) -> _gettext.NullTranslations:
    """Load one language's catalog: the compiled .mo, else the .po compiled in memory.

    Uncached; use :func:`translator` in application code.
    """
    locales_dir = Path(locales_dir) if locales_dir is not None else LOCALES_DIR
    po_path, mo_path = _catalog_paths(language, locales_dir)
    has_po, has_mo = po_path.is_file(), mo_path.is_file()
    if has_mo and has_po and po_path.stat().st_mtime > mo_path.stat().st_mtime:
        log.warning("%s is older than %s; using the .po (run `make` to compile)", mo_path, po_path)
        return _compile_po(po_path, language)
    if has_mo:
        loaded = Translations.load(str(locales_dir), [language], domain=DOMAIN)
        if isinstance(loaded, Translations):
            return loaded
    if has_po:
        log.warning(
            "no compiled catalog %s; compiling %s in memory (run `make` to compile)",
            mo_path,
            po_path,
        )
        return _compile_po(po_path, language)
    if language != "en":
        log.warning(
            "no catalog for %r under %s; showing English source text", language, locales_dir
        )
    return NullTranslations()


def _language_code(language: str | None) -> str:
    """'ar-SA', 'AR', 'en_US' -> 'ar', 'ar', 'en'; unknown or empty -> the default."""
    if not language:
        return DEFAULT_LANGUAGE
    code = re.split(r"[-_@.]", language.strip().lower(), maxsplit=1)[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


class Translator:
    """One language's catalog plus locale-aware formatting. Immutable; share freely."""

    def __init__(self, language: str, translations: _gettext.NullTranslations) -> None:
        self.language = language
        self.direction = "rtl" if language in _RTL_LANGUAGES else "ltr"
        self._t = translations

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    @property
    def translations(self) -> _gettext.NullTranslations:
        """The gettext object, e.g. for ``jinja_env.install_gettext_translations`` per render."""
        return self._t

    # -- catalog lookups -------------------------------------------------------------------
    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Choose the plural form by the catalog's Plural-Forms (Arabic has six)."""
        return self._t.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._t.pgettext(context, message)

    # -- formatting ------------------------------------------------------------------------
    def format_number(self, n: int | float | Decimal) -> str:
        """Locale grouping/decimal marks, always Western digits (see module docstring)."""
        return _format_number(self.language, n)

    def format_days(self, n: int) -> str:
        """'{n} days' with the right plural form, e.g. for SLAs ("within 14 days")."""
        # Translators: a number of days, e.g. a deadline; {n} is the number in digits.
        return self.ngettext("{n} day", "{n} days", n).format(n=self.format_number(n))

    def _gregorian(self, d: date) -> str:
        text = babel.dates.format_date(d, _GREGORIAN_PATTERN, locale=self.language)
        return normalize_digits(text)

    def _hijri(self, d: date) -> str | None:
        """'12 <month> 1448' in Umm al-Qura, or None outside its range (1924-2077)."""
        try:
            h = Gregorian(d.year, d.month, d.day).to_hijri()
        except OverflowError:
            return None
        # hijridate names months in en, ar, bn, tr; ours are en and ar.
        month = h.month_name("ar" if self.language == "ar" else "en")
        return f"{h.day} {month} {h.year}"

    def format_date(self, d: date) -> str:
        """Hijri beside Gregorian; order and era marks come from the catalog."""
        if isinstance(d, datetime):
            d = d.date()
        gregorian = self._gregorian(d)
        hijri = self._hijri(d)
        if hijri is None:
            # Translators: a Gregorian date alone (too far from today for the Hijri calendar).
            return self.pgettext("date outside the Hijri range", "{gregorian}").format(
                gregorian=gregorian
            )
        # Translators: {hijri} is "12 <Hijri month> 1448", {gregorian} "22 <month> 2026".
        return self.gettext("{hijri} AH ({gregorian})").format(hijri=hijri, gregorian=gregorian)

    def format_time(self, dt: datetime, tz: str) -> str:
        """Local time as h:mm with am/pm in the contact's language."""
        local = _to_zone(dt, tz)
        return normalize_digits(
            babel.dates.format_time(local.time(), _TIME_PATTERN, locale=self.language)
        )

    def format_datetime(self, dt: datetime, tz: str) -> str:
        """Local date (Hijri and Gregorian) and time in zone ``tz``; naive ``dt`` is UTC."""
        local = _to_zone(dt, tz)
        # Translators: {date} is a full date (Hijri and Gregorian), {time} is e.g. "2:30 PM".
        return self.gettext("{date}, {time}").format(
            date=self.format_date(local.date()), time=self.format_time(local, tz)
        )

    def format_weekday(self, d: date) -> str:
        return babel.dates.format_date(d, "EEEE", locale=self.language)


def _to_zone(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(ZoneInfo(tz))


@functools.cache
def _translator(language: str) -> Translator:
    return Translator(language, load_translations(language))


@functools.lru_cache(maxsize=4096, typed=True)
def _format_number(language: str, n: int | float | Decimal) -> str:
    """Babel takes tens of microseconds a number; menus and forms show the same few."""
    text = babel.numbers.format_decimal(n, locale=language, numbering_system="latn")
    return normalize_digits(text) if not text.isascii() else text


def translator(language: str | None) -> Translator:
    """The (cached) translator for a contact's language; unknown or None gives Arabic."""
    return _translator(_language_code(language))


def _split_words(text: str) -> set[str]:
    words = set()
    for part in re.split("[,\u060c]", text):
        word = normalize_for_matching(part)
        if word:
            words.add(word)
    return words


@functools.cache
def keywords(msgid: str) -> frozenset[str]:
    """Normalised command words for ``msgid`` in every language, for whole-message matching.

    A STOP typed in Arabic by a contact whose language is English must still stop them.
    """
    words = _split_words(msgid)
    for language in LANGUAGES:
        words |= _split_words(translator(language).gettext(msgid))
    return frozenset(words)


# Shared by the menu (a greeting opens it) and the Telegram channel (its Start button is read
# as a greeting in the app's language).
# Translators: comma-separated greetings a beneficiary may open with.
GREETING_WORDS = N_("hi, hello, hey, salam, good morning, good evening")
