"""bot/faq's parts for new wordings (issue 16): Arabizi, the lexicon, the question inside a
story, clitics and words run together, the keyboard-aware speller, per-entry keywords.

Each test would fail without its part; the figures on a whole set of new questions are in
tests/test_faq_heldout.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq import FaqIndex
from bot.faq.arabizi import ArabiziReader, arabic_skeleton, latin_skeleton
from bot.faq.lexicon import Lexicon, shipped_lexicon
from bot.faq.speller import Speller
from bot.faq.story import question_part
from bot.faq.terms import STOPWORDS, words_of
from bot.profile import Profile
from tests.test_profile import errors_of, example_data, write


@pytest.fixture(scope="module")
def index(profile: Profile) -> FaqIndex:
    return FaqIndex(profile)


def _answer(index: FaqIndex, text: str, language: str = "ar") -> str | None:
    result = index.search(text, language)
    return result.matches[0].entry_id if result.kind == "answer" else None


def _without_keywords(profile: Profile) -> Profile:
    topics = [
        t.model_copy(update={"entries": [e.model_copy(update={"keywords": []}) for e in t.entries]})
        for t in profile.faq
    ]
    return profile.model_copy(update={"faq": topics})


# --- Arabizi ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arabic", "arabizi"),
    [
        ("الخدمات", "el5adamat"),
        ("طلب", "6alab"),
        ("مساعده", "mosa3ada"),
        ("مقيم", "mgeem"),
        ("تفتحون", "tefta7oon"),
        ("ياخذ", "ya5ath"),
        ("المطلوبه", "elmatlooba"),
    ],
)
def test_arabizi_and_arabic_share_a_skeleton(arabic: str, arabizi: str) -> None:
    assert latin_skeleton(arabizi) == arabic_skeleton(words_of(arabic)[0]) != ""


def test_arabizi_reader_prefers_the_word_whose_vowels_were_typed() -> None:
    # "serriya" (secret) and "suwar" (photos) are both s-r; the typed vowels decide.
    reader = ArabiziReader([(words_of("صور")[0], 9), (words_of("سرية")[0], 1)])
    assert reader.read("serriya") == words_of("سرية")[0]
    assert reader.read("sowar") == words_of("صور")[0]
    assert reader.read("zzzz") is None


@pytest.mark.parametrize(
    ("message", "entry_id"),
    [
        ("mata tefta7oon", "opening-hours"),
        ("kam yom ya5ath el6alab", "how-long"),
        ("hawiyti montahya", "expired-id"),
        ("abi ashteki", "file-complaint"),
    ],
)
def test_arabizi_questions_are_answered(index: FaqIndex, message: str, entry_id: str) -> None:
    assert _answer(index, message, "en") == entry_id


def test_english_words_are_not_read_as_arabizi(index: FaqIndex) -> None:
    # "favourite" has the consonants of "fawri" (immediate); the English function words of
    # the message say it is English.
    assert index.search("what's your favourite colour", "en").kind == "unknown"


# --- the lexicon ------------------------------------------------------------------------------


def test_synonyms_and_phrases_become_one_term() -> None:
    lexicon = shipped_lexicon()
    papers = [lexicon.concept(t) for t in ("ورق", "وثايق", "paper", "document")]
    assert len(set(papers)) == 1 and papers[0] is not None
    assert lexicon.phrases_in(words_of("انا غير سعودي")) == [("انا",), "~resident"]


def test_a_synonym_of_the_lexicon_finds_the_entry(profile: Profile) -> None:
    message = "ما الوثائق اللازمة؟"  # "al-watha'iq", not a word of the profile
    assert _answer(FaqIndex(profile), message) == "documents-list"
    assert _answer(FaqIndex(profile, lexicon=Lexicon({})), message) is None


def test_english_in_an_arabic_message_counts_like_its_arabic(profile: Profile) -> None:
    assert _answer(FaqIndex(profile), "وش ال documents المطلوبة") == "documents-list"


# --- the question inside a story --------------------------------------------------------------

STORY = (
    "السلام عليكم، انا ام لخمسة اطفال وزوجي توفى قبل سنتين والحمد لله على كل حال، والوضع صعب "
    "علينا من وقتها. وش الاوراق اللي تطلبونها للتسجيل؟"
)


def test_the_asked_sentence_of_a_long_message_is_searched(index: FaqIndex) -> None:
    assert question_part(STORY).startswith("وش الاوراق")
    assert question_part("وش الاوراق؟ تمام") == "وش الاوراق؟ تمام"  # short: searched whole
    assert _answer(index, STORY) == "documents-list"


# --- clitics, words run together, typos -------------------------------------------------------


def test_clitics_and_words_run_together(index: FaqIndex) -> None:
    assert _answer(index, "وين اروح لمقركم") == "location"  # li- glued to "maqarr"
    assert _answer(index, "كيفاسجل عندكم") == "how-to-apply"  # "kayf" + "asajjil"
    assert _answer(index, "تقبلون غيرالسعوديين") == "residents"


def test_speller_corrects_typos_not_other_words() -> None:
    known = {w: 1 for w in words_of("مستعجل اكل خدمات مستندات")}
    speller = Speller(known, STOPWORDS)
    assert speller.correct("مستنادت") == "مستندات"  # two letters swapped
    assert speller.correct("خدمت") == "خدمات"  # a letter left out
    assert speller.correct("مستعمل") == "مستعمل"  # used, not "urgent": not a keyboard slip
    assert speller.correct("اكلم") == "اكلم"  # "talk to", not "food"


@pytest.mark.parametrize(
    "message", ["اسعار السيارات المستعملة", "ابي اكلم احد", "ابي اكلم المدير", "كم سعر الذهب"]
)
def test_words_near_the_faq_words_are_not_answered(index: FaqIndex, message: str) -> None:
    assert index.search(message, "ar").kind == "unknown"


# --- keywords in the profile ------------------------------------------------------------------


def test_a_keyword_makes_a_new_word_find_its_entry(profile: Profile) -> None:
    bare = _without_keywords(profile)
    assert _answer(FaqIndex(bare), "الايجار") is None
    services = bare.faq[0].entries[0]
    assert services.id == "services-list"
    with_rent = services.model_copy(update={"keywords": ["الإيجار"]})
    topic = bare.faq[0].model_copy(update={"entries": [with_rent, *bare.faq[0].entries[1:]]})
    extended = bare.model_copy(update={"faq": [topic, *bare.faq[1:]]})
    assert _answer(FaqIndex(extended), "الايجار") == "services-list"


def test_profile_check_rejects_repeated_or_long_keywords(tmp_path: Path) -> None:
    data = example_data()
    entry = data["faq"][0]["entries"][0]
    entry["keywords"] = ["rent", "Rent"]
    assert any("listed twice" in e for e in errors_of(write(tmp_path, data)))
    entry["keywords"] = ["one two three four five"]
    assert any("short phrase" in e for e in errors_of(write(tmp_path, data)))
    entry["keywords"] = [""]
    assert errors_of(write(tmp_path, data))
