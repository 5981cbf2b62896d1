"""bot.i18n: per-contact catalogs, Arabic plurals, keywords, Hijri + Gregorian dates."""

import os
import re
import shutil
import string
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from hijridate import Gregorian, Hijri

from bot.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    LOCALES_DIR,
    Translator,
    keywords,
    load_translations,
    translator,
)
from bot.text import normalize_for_matching
from handlers.menu import MENU_WORDS
from handlers.subscription import OPT_IN_WORDS, OPT_OUT_WORDS

REPO = Path(__file__).resolve().parent.parent
AR_PLURAL_FORMS = (
    "nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
    "n%100>=3 && n%100<=10 ? 3 : n%100>=11 && n%100<=99 ? 4 : 5;"
)
ARABIC_INDIC = re.compile("[\u0660-\u0669\u06f0-\u06f9]")


def _po(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / "tawasul.po"


def _read(language: str):
    with _po(language).open("rb") as f:
        return read_po(f, locale=language)


# -- catalogs ----------------------------------------------------------------------------


def test_locales_dir_is_repo_locales() -> None:
    assert LOCALES_DIR == REPO / "locales"
    assert (LOCALES_DIR / "tawasul.pot").is_file()


def test_locales_dir_env_override(tmp_path: Path) -> None:
    env = {**os.environ, "TAWASUL_LOCALES_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", "from bot.i18n import LOCALES_DIR; print(LOCALES_DIR)"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(tmp_path)


def test_ar_plural_forms_header_is_the_correct_formula() -> None:
    text = _po("ar").read_text(encoding="utf-8")
    header = text.split("\n\n", 1)[0]
    joined = "".join(re.findall(r'^"(.*)"$', header, flags=re.M)).replace("\\n", "\n")
    plural = [line for line in joined.split("\n") if line.startswith("Plural-Forms:")]
    assert plural == ["Plural-Forms: " + AR_PLURAL_FORMS]


def _placeholders(s: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(s) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_complete(language: str) -> None:
    catalog = _read(language)
    assert len(catalog) > 0
    for message in catalog:
        if not message.id:
            continue
        assert "fuzzy" not in message.flags, message.id
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated in {language}: {message.id!r}"
        if message.pluralizable:
            assert len(strings) == (6 if language == "ar" else 2)
        allowed = set().union(*(_placeholders(i) for i in ids))
        for s in strings:
            assert _placeholders(s) <= allowed, (message.id, s)
        if language == "en":
            assert strings == ids


# Entries whose Arabic text is rightly not Arabic: a bare placeholder, and the web chat's
# language link, which on the Arabic page names the other language in its own script.
NOT_ARABIC = {"{gregorian}", "العربية"}


def test_arabic_catalog_is_arabic() -> None:
    for message in _read("ar"):
        if message.id and message.id not in NOT_ARABIC:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(re.search("[\u0600-\u06ff]", s) for s in strings), message.id


def test_missing_mo_compiles_po_in_memory(tmp_path: Path) -> None:
    for language in LANGUAGES:
        target = tmp_path / language / "LC_MESSAGES"
        target.mkdir(parents=True)
        shutil.copy(_po(language), target / "tawasul.po")
    t = load_translations("ar", tmp_path)
    assert t.gettext("{hijri} AH ({gregorian})") == "{hijri} هـ ({gregorian} م)"
    assert t.ngettext("{n} day", "{n} days", 11) == "{n} يومًا"
    assert not list(tmp_path.rglob("*.mo"))  # nothing written to disk


def test_compiled_mo_is_used(tmp_path: Path) -> None:
    target = tmp_path / "ar" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with _po("ar").open("rb") as f:
        catalog = read_po(f, locale="ar")
    with (target / "tawasul.mo").open("wb") as f:
        write_mo(f, catalog)
    t = load_translations("ar", tmp_path)
    assert isinstance(t, Translations)
    assert [t.ngettext("{n} day", "{n} days", n) for n in (0, 1, 2, 3, 11, 100)] == [
        "{n} يوم",
        "يوم واحد",
        "يومان",
        "{n} أيام",
        "{n} يومًا",
        "{n} يوم",
    ]


def test_stale_mo_is_ignored(tmp_path: Path) -> None:
    target = tmp_path / "ar" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "tawasul.mo").open("wb") as f:
        write_mo(f, Catalog(locale="ar"))  # empty, then the .po is edited after it
    shutil.copy(_po("ar"), target / "tawasul.po")
    os.utime(target / "tawasul.mo", (1_000_000_000, 1_000_000_000))
    t = load_translations("ar", tmp_path)
    assert t.gettext("{date}, {time}") == "{date}، الساعة {time}"


def test_no_catalog_at_all_gives_source_text(tmp_path: Path) -> None:
    t = load_translations("ar", tmp_path)
    assert t.gettext("{date}, {time}") == "{date}, {time}"


# -- translator selection ----------------------------------------------------------------


def test_languages() -> None:
    assert LANGUAGES == ("ar", "en")
    assert DEFAULT_LANGUAGE == "ar"


@pytest.mark.parametrize("language", [None, "", "fr", "xx", "zz-ZZ"])
def test_unknown_language_is_arabic(language: str | None) -> None:
    t = translator(language)
    assert t.language == "ar"
    assert t.direction == "rtl"
    assert t.gettext("{date}, {time}") == "{date}، الساعة {time}"


@pytest.mark.parametrize("language", ["en", "EN", "en-US", "en_GB"])
def test_english_variants(language: str) -> None:
    t = translator(language)
    assert t.language == "en"
    assert t.direction == "ltr"


def test_translator_cached() -> None:
    assert translator("ar") is translator("ar-SA") is translator(None)
    assert isinstance(translator("en"), Translator)


def test_alternating_translators_have_no_shared_state() -> None:
    ar, en = translator("ar"), translator("en")
    template = "{hijri} AH ({gregorian})"
    results = [t.gettext(template) for t in (ar, en, ar, en, ar)]
    assert results == [
        "{hijri} هـ ({gregorian} م)",
        template,
        "{hijri} هـ ({gregorian} م)",
        template,
        "{hijri} هـ ({gregorian} م)",
    ]
    assert ar.format_weekday(date(2026, 11, 22)) == "الأحد"
    assert en.format_weekday(date(2026, 11, 22)) == "Sunday"
    assert ar.format_weekday(date(2026, 11, 22)) == "الأحد"


def test_pgettext() -> None:
    context = "date outside the Hijri range"
    assert translator("ar").pgettext(context, "{gregorian}") == "{gregorian} م"
    assert translator("en").pgettext(context, "{gregorian}") == "{gregorian}"


# -- plurals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "{n} يوم"),
        (1, "يوم واحد"),
        (2, "يومان"),
        (3, "{n} أيام"),
        (10, "{n} أيام"),
        (11, "{n} يومًا"),
        (99, "{n} يومًا"),
        (100, "{n} يوم"),
        (102, "{n} يوم"),
        (103, "{n} أيام"),
        (111, "{n} يومًا"),
    ],
)
def test_arabic_plural_forms(n: int, expected: str) -> None:
    assert translator("ar").ngettext("{n} day", "{n} days", n) == expected


def test_format_days() -> None:
    ar, en = translator("ar"), translator("en")
    assert [ar.format_days(n) for n in (1, 2, 3, 14)] == ["يوم واحد", "يومان", "3 أيام", "14 يومًا"]
    assert [en.format_days(n) for n in (0, 1, 14)] == ["0 days", "1 day", "14 days"]


# -- keywords ----------------------------------------------------------------------------


def test_opt_out_keywords_cover_both_languages() -> None:
    words = keywords(OPT_OUT_WORDS)
    assert {"stop", "unsubscribe"} <= words
    assert "cancel" not in words  # "cancel" leaves a form; it must not also opt out
    assert normalize_for_matching("إيقاف") in words
    assert normalize_for_matching("ايقاف") in words
    assert normalize_for_matching("إلغاء الاشتراك") in words
    assert normalize_for_matching("الـغـاء الإشتراك") in words
    assert normalize_for_matching("STOP") in words
    assert normalize_for_matching(" إِيقَاف! ") in words


def test_keywords_are_normalised_and_independent_of_language() -> None:
    # keywords() takes no language: an English contact typing Arabic is still understood.
    words = keywords(MENU_WORDS)
    assert {"menu", normalize_for_matching("القائمة الرئيسية")} <= words
    assert all(w == normalize_for_matching(w) and w for w in words)
    assert keywords(MENU_WORDS) is keywords(MENU_WORDS)  # cached


def test_opt_in_and_opt_out_do_not_overlap() -> None:
    assert not keywords(OPT_OUT_WORDS) & keywords(OPT_IN_WORDS)


def test_keywords_of_unknown_msgid_is_the_msgid_itself() -> None:
    assert keywords("Foo, BAR ،baz") == frozenset({"foo", "bar", "baz"})


# -- dates and numbers -------------------------------------------------------------------


def test_hijri_reference_date() -> None:
    h = Gregorian(2026, 11, 22).to_hijri()
    assert (h.year, h.month, h.day) == (1448, 6, 12)  # 12 Jumada al-Akhirah 1448


def test_format_date_arabic() -> None:
    text = translator("ar").format_date(date(2026, 11, 22))
    assert text == "12 جمادى الآخرة 1448 هـ (22 نوفمبر 2026 م)"
    assert not ARABIC_INDIC.search(text)


def test_format_date_english() -> None:
    text = translator("en").format_date(date(2026, 11, 22))
    assert text == "12 Jumada al-Akhirah 1448 AH (22 November 2026)"


def test_format_date_ramadan() -> None:
    first = Hijri(1447, 9, 1).to_gregorian()
    d = date(first.year, first.month, first.day)
    assert translator("en").format_date(d).startswith("1 Ramadan 1447 AH (")
    assert translator("ar").format_date(d).startswith("1 رمضان 1447 هـ (")


def test_format_date_outside_umm_al_qura_is_gregorian_only() -> None:
    assert translator("ar").format_date(date(2090, 1, 1)) == "1 يناير 2090 م"
    assert translator("en").format_date(date(1900, 3, 5)) == "5 March 1900"


def test_format_date_accepts_datetime() -> None:
    en = translator("en")
    assert en.format_date(datetime(2026, 11, 22, 23, 0)) == en.format_date(date(2026, 11, 22))


def test_format_datetime_local_time() -> None:
    dt = datetime(2026, 11, 22, 11, 30, tzinfo=UTC)  # 14:30 in Riyadh
    assert translator("en").format_datetime(dt, "Asia/Riyadh") == (
        "12 Jumada al-Akhirah 1448 AH (22 November 2026), 2:30 PM"
    )
    ar_text = translator("ar").format_datetime(dt, "Asia/Riyadh")
    assert ar_text == "12 جمادى الآخرة 1448 هـ (22 نوفمبر 2026 م)، الساعة 2:30 م"
    assert not ARABIC_INDIC.search(ar_text)


def test_format_datetime_uses_local_date_and_naive_is_utc() -> None:
    # 22:30 UTC on the 21st is 01:30 on the 22nd in Riyadh
    text = translator("en").format_datetime(datetime(2026, 11, 21, 22, 30), "Asia/Riyadh")
    assert text.endswith("(22 November 2026), 1:30 AM")
    morning = translator("ar").format_datetime(datetime(2026, 11, 22, 6, 5), "Asia/Riyadh")
    assert morning.endswith("9:05 ص")


def test_format_number_western_digits() -> None:
    assert translator("ar").format_number(1234567) == "1,234,567"
    assert translator("en").format_number(1234.5) == "1,234.5"
    assert not ARABIC_INDIC.search(translator("ar").format_number(9876.25))


def test_no_gettext_install() -> None:
    import builtins

    translator("ar").gettext("{date}, {time}")
    assert not hasattr(builtins, "_")
