"""bot.faq: FAQ retrieval over the real example profile.

Every question variant of the profile must find its own entry; new phrasings with typos,
Gulf/Saudi dialect, Arabic-Indic digits and English typos must find theirs; unrelated
messages and greetings must not be answered; an ambiguous short query gets "did you mean".
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from bot.faq import FaqIndex, FaqMatch, FaqResult, content_terms
from bot.profile import Profile
from bot.text import normalize_for_matching

ROOT = Path(__file__).resolve().parent.parent
PROFILE_PATH = ROOT / "profiles" / "example.yaml"


@pytest.fixture(scope="module")
def index(profile: Profile) -> FaqIndex:
    return FaqIndex(profile)


def _top(result: FaqResult) -> str | None:
    return result.matches[0].entry_id if result.matches else None


def _language(message: str) -> str:
    return "en" if re.search("[A-Za-z]", message) else "ar"


# --- the profile's own questions ------------------------------------------------------------


def test_every_profile_variant_answers_its_own_entry(profile: Profile, index: FaqIndex) -> None:
    failures: list[str] = []
    total = 0
    for topic in profile.faq:
        for entry in topic.entries:
            for language in ("ar", "en"):
                for question in entry.questions.get(language):
                    total += 1
                    result = index.search(question, language)
                    if result.kind != "answer" or _top(result) != entry.id:
                        failures.append(f"{entry.id}: {question!r} -> {result}")
                    else:
                        assert result.matches[0].topic_id == topic.id
    print(f"\nown variants: {total - len(failures)}/{total} answered with their entry")
    assert total > 0
    assert not failures, "\n".join(failures)


def test_question_typed_in_the_other_language_finds_its_entry(index: FaqIndex) -> None:
    # Both languages are indexed whatever the beneficiary's language is.
    assert _top(index.search("What documents do I need?", "ar")) == "documents-list"
    assert _top(index.search("وش الأوراق المطلوبة؟", "en")) == "documents-list"


# --- new phrasings, not in the profile ------------------------------------------------------

# (message, expected entry, expected kind, what it exercises)
# Three rows were "suggest" (right as the first "did you mean" choice) before the shipped
# lexicon (bot/faq/lexicon.txt, issue 16): "الأجانب" and "مو سعودي" are now synonyms of
# "مقيم", and "working hours" one term; they are answers now, with the same entry.
NEW_PHRASINGS: list[tuple[str, str, str, str]] = [
    # Arabic typos
    ("وش الخدمت اللي تقدمونها", "services-list", "answer", "missing alef in -aat"),
    ("ايش المساعدت اللي تعطونا", "services-list", "answer", "missing alef, dialect verb"),
    ("ابغى اقدم على مساعده", "how-to-apply", "answer", "ta marbuta typed as heh"),
    ("عندي ظرف طاريء", "urgent-help", "answer", "hamza on the wrong seat"),
    ("مين يستحق المساعده", "who-can-benefit", "answer", "new verb, heh for ta marbuta"),
    ("انرفض طلبى اقدم مره ثانيه؟", "reapply", "answer", "alef maksura for ya"),
    ("رفضو طلبي", "reapply", "answer", "dialect spelling without final alef"),
    ("كيف ارفع المستنادت", "send-photos", "answer", "swapped letters"),
    ("الاقامه منتهيه وش اسوي", "expired-id", "answer", "heh for ta marbuta, dialect"),
    ("متى تفتحوون", "opening-hours", "answer", "doubled letter"),
    ("ابى اشتكى على موظف", "file-complaint", "answer", "alef maksura twice, extra words"),
    ("مين يقدر يشوف بياناتي", "data-privacy", "answer", "words of two variants"),
    # Gulf/Saudi dialect
    ("وش الاوراق اللي اجيبها معي", "documents-list", "answer", "words of two variants"),
    ("ايش المستندات اللي احتاجها", "documents-list", "answer", "ايش + dialect relative"),
    ("تداومون السبت؟", "opening-hours", "answer", "dialect verb"),
    ("وين الفرع", "branch-offices", "answer", "وين"),
    ("وين مقركم", "location", "answer", "وين + pronoun"),
    ("ابي عنوان الجمعيه", "location", "answer", "ابي"),
    ("كم يوم ياخذ طلبي", "how-long", "answer", "كم ياخذ"),
    ("متي يطلع رد طلبي", "how-long", "answer", "ya for alef maksura in a stop-word"),
    ("مين يقرر", "how-decided", "answer", "مين"),
    ("وش صار ع طلبي", "request-status", "answer", "dialect ع for على"),
    ("ابا اشتكي", "file-complaint", "answer", "ابا"),
    ("السلام عليكم متى الدوام", "opening-hours", "answer", "greeting before the question"),
    ("مرحبا، وش الأوراق المطلوبة؟", "documents-list", "answer", "greeting, punctuation"),
    ("انا مقيم ومو سعودي اقدر اسجل؟", "residents", "answer", "a phrase of the lexicon"),
    ("تقبلون الاجانب", "residents", "answer", "a synonym of the lexicon"),
    ("عندكم فروع في جده", "branch-offices", "answer", ""),
    ("قديش ياخذ وقت", "how-long", "answer", ""),
    # Arabic-Indic digits
    ("خلال ١٤ يوم يطلع الرد؟", "how-long", "answer", "Arabic-Indic digits"),
    ("تفتحون الساعة ٨ الصبح؟", "opening-hours", "answer", ""),
    # English typos
    ("what servises do you ofer", "services-list", "answer", "two misspelt words"),
    ("how do i aply for help", "how-to-apply", "answer", "missing letter"),
    ("what documnets do i need", "documents-list", "answer", "swapped letters"),
    ("where is your ofice", "location", "answer", "missing doubled letter"),
    ("is my data confidental", "data-privacy", "answer", "missing letter"),
    ("how long dose it take", "how-long", "answer", "misspelt stop-word"),
    ("can I send photos on whatsap", "send-photos", "answer", "brand name typo"),
    ("who decides on my reqest", "how-decided", "answer", "missing letter"),
    ("when are you opne", "opening-hours", "answer", "swapped letters"),
    ("do you accpet non saudis", "residents", "answer", "swapped letters"),
    ("my id is expierd", "expired-id", "answer", "swapped letters"),
    ("i want to complian", "file-complaint", "answer", "swapped letters"),
    ("emergancy help", "urgent-help", "answer", "wrong vowel"),
    ("wat are your workng hours", "opening-hours", "answer", "two typos, a lexicon phrase"),
]


@pytest.mark.parametrize(
    ("message", "entry_id", "kind", "why"), NEW_PHRASINGS, ids=[row[0] for row in NEW_PHRASINGS]
)
def test_new_phrasing_finds_its_entry(
    index: FaqIndex, message: str, entry_id: str, kind: str, why: str
) -> None:
    result = index.search(message, _language(message))
    assert (result.kind, _top(result)) == (kind, entry_id), f"{why}: {result}"


def test_new_phrasings_table_is_new_and_large_enough(profile: Profile) -> None:
    variants = [
        question
        for topic in profile.faq
        for entry in topic.entries
        for question in (*entry.questions.ar, *entry.questions.en)
    ]
    as_written = {normalize_for_matching(q) for q in variants}
    as_terms = {tuple(content_terms(q)) for q in variants}
    assert not [row[0] for row in NEW_PHRASINGS if normalize_for_matching(row[0]) in as_written]
    differ = [row for row in NEW_PHRASINGS if tuple(content_terms(row[0])) not in as_terms]
    print(
        f"\nnew phrasings: {len(NEW_PHRASINGS)}, none in the profile; {len(differ)} still differ"
        " from every variant after stop-words and stemming"
    )
    assert len(differ) >= 15


def test_precision_on_new_phrasings(index: FaqIndex) -> None:
    results = [(index.search(row[0], _language(row[0])), row[1]) for row in NEW_PHRASINGS]
    right = sum(_top(result) == entry_id for result, entry_id in results)
    answered = sum(result.kind == "answer" for result, _ in results)
    print(f"\nnew phrasings: {right}/{len(NEW_PHRASINGS)} right first, {answered} answered")
    assert right == len(NEW_PHRASINGS)


# --- what must not be answered --------------------------------------------------------------

UNRELATED = [
    "كم سعر الذهب اليوم",
    "what's the weather",
    "asdfgh",
    "مرحبا",
    "السلام عليكم ورحمة الله وبركاته",
    "hello",
    "hi there",
    "شكراً",
    "ok",
    "تمام",
    "who won the match",
    "tell me a joke",
    "مين فاز بالمباراة امس",
    "وش رايك في الجو",
    "سعر الدولار",
    "ابي بيتزا",
    "متى رمضان",
    "وش اسمك",
]


@pytest.mark.parametrize("message", UNRELATED)
def test_unrelated_message_is_unknown(index: FaqIndex, message: str) -> None:
    result = index.search(message, "ar")
    assert result == FaqResult("unknown", ())


@pytest.mark.parametrize("message", ["", "   ", "ا", "a", "؟", "?", "١٢٣", "997", "👍", "ـ"])
def test_empty_one_letter_or_no_letters_is_unknown(index: FaqIndex, message: str) -> None:
    assert index.search(message, "ar").kind == "unknown"
    assert index.search(message, "en").kind == "unknown"


def test_greeting_never_answered_even_with_stretched_letters(index: FaqIndex) -> None:
    for message in ("مرحباااا", "هلاا", "heyyy", "Hello!!", "صباح الخير", "مساء النور"):
        assert index.search(message, "ar").kind == "unknown", message


# --- ambiguity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # "request" alone: status, duration, decision... all about a request.
        ("طلب", {"request-status", "how-long", "how-to-apply", "how-decided", "reapply"}),
        # "help" alone: which services, who may have them, how to apply.
        ("مساعدة", {"services-list", "who-can-benefit", "how-to-apply", "urgent-help"}),
        # "documents" alone: which ones, or how to send them.
        ("المستندات", {"documents-list", "send-photos"}),
    ],
)
def test_ambiguous_short_query_suggests_up_to_three(
    index: FaqIndex, message: str, expected: set[str]
) -> None:
    result = index.search(message, "ar")
    ids = [m.entry_id for m in result.matches]
    assert result.kind == "suggest", result
    assert 2 <= len(ids) <= 3
    assert len(set(ids)) == len(ids)
    assert set(ids) <= expected
    scores = [m.score for m in result.matches]
    assert scores == sorted(scores, reverse=True)


def test_clear_winner_is_answered_not_suggested(index: FaqIndex) -> None:
    # "الدوام" is in opening-hours and after-hours, but "when do you work" is the plain reading.
    result = index.search("الدوام", "ar")
    assert result.kind == "answer"
    assert _top(result) == "opening-hours"


# --- scores, parameters, normalisation ------------------------------------------------------


def test_rank_scores_are_between_0_and_1_and_sorted(index: FaqIndex, profile: Profile) -> None:
    ranked = index.rank("وش الاوراق المطلوبة للتسجيل", "ar")
    assert len(ranked) == sum(len(t.entries) for t in profile.faq)
    assert all(isinstance(m, FaqMatch) and 0.0 <= m.score <= 1.0 for m in ranked)
    assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)
    assert ranked[0].entry_id == "documents-list"
    assert index.rank("مرحبا", "ar") == ()


def test_thresholds_change_the_decision(profile: Profile) -> None:
    message = "وين اجيب الاوراق"  # about 0.64 for documents-list, 0.53 for send-photos
    assert FaqIndex(profile).search(message, "ar").kind == "suggest"
    lenient = FaqIndex(profile, answer_threshold=0.35, suggest_threshold=0.3, margin=0.1)
    assert lenient.search(message, "ar").kind == "answer"
    strict = FaqIndex(profile, answer_threshold=0.9, suggest_threshold=0.7)
    assert strict.search(message, "ar").kind == "unknown"
    with pytest.raises(ValueError):
        FaqIndex(profile, answer_threshold=0.3, suggest_threshold=0.5)


def test_results_are_frozen(index: FaqIndex) -> None:
    result = index.search("متى تفتحون", "ar")
    with pytest.raises(AttributeError):
        result.kind = "unknown"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        result.matches[0].score = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("الخدمات", "خدماتكم"),  # article, plural, pronoun
        ("الهوية", "هويتي"),  # ta marbuta before a pronoun
        ("السعوديين", "سعودي"),  # plural of a nisba adjective
        ("مُساعَدَةٌ", "مساعده"),  # diacritics, ta marbuta
        ("تفتحـــون", "تفتحوون"),  # tatweel, doubled letter
        ("إقامة", "اقامه"),  # hamza below, ta marbuta
        ("طارئ", "طاريء"),  # hamza seat
        ("مستشفى", "مستشفي"),  # alef maksura
        ("documents", "document"),
        ("OFFICE", "ofice"),  # case, doubled letter
    ],
)
def test_spelling_variants_give_the_same_terms(a: str, b: str) -> None:
    assert content_terms(a) == content_terms(b) != []


def test_stop_words_and_digits(index: FaqIndex) -> None:
    assert content_terms("وش ايش ابي ابغى ممكن لو اذا هل ما ماذا كيف متى من في على") == []
    assert content_terms("what is the how can I please") == []
    assert content_terms("خلال ١٤ يوم") == content_terms("خلال 14 يوم")


def test_small_faq_still_works(profile: Profile) -> None:
    hours = next(t for t in profile.faq if t.id == "hours")
    tiny = profile.model_copy(
        update={"faq": [hours.model_copy(update={"entries": hours.entries[:1]})]}
    )
    index = FaqIndex(tiny)
    assert _top(index.search("متى تفتحون", "ar")) == "opening-hours"
    assert index.search("what are your working hours", "en").kind == "answer"
    assert index.search("وش الاوراق المطلوبة", "ar").kind == "unknown"


def test_modules_have_no_arabic_literals() -> None:
    # The project's hook flags Arabic in Python; the Arabic words live in data files.
    modules = sorted((ROOT / "bot" / "faq").glob("*.py"))
    assert len(modules) >= 5
    for module in modules:
        source = module.read_text(encoding="utf-8")
        assert not re.search("[\u0600-\u06ff]", source), module.name


# --- speed ----------------------------------------------------------------------------------


def test_build_and_search_are_fast(profile: Profile) -> None:
    FaqIndex(profile)  # warm caches (imports, stemmer cache) once
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        index = FaqIndex(profile)
        builds.append(time.perf_counter() - start)
    messages = [row[0] for row in NEW_PHRASINGS] + UNRELATED
    queries = (messages * (200 // len(messages) + 1))[:200]
    start = time.perf_counter()
    for message in queries:
        index.search(message, "ar")
    searching = time.perf_counter() - start
    build = min(builds)
    print(
        f"\nFaqIndex build: {build * 1000:.1f} ms (best of 5, target < 200 ms); "
        f"200 searches: {searching * 1000:.0f} ms ({searching * 5:.2f} ms each, target < 1 s)"
    )
    # Generous bounds so a slow CI machine passes; the targets are in the message above.
    assert build < 1.0
    assert searching < 5.0
