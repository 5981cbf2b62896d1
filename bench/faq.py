"""FAQ search speed: building the index and one search, beside a plain dict lookup.

Targets (issue 16): a search under 5 ms, building the index for 500 entries under 1 s. The
questions searched are those of tests/data/faq_heldout.yaml (364 new wordings of every kind);
the 500-entry FAQ is the example profile's 18 entries copied with new ids, each copy's
questions given a word of their own so that the vocabulary grows as a real FAQ's would.

The baseline, measured in the same run, is the cheapest "FAQ" there is: a dict from each
normalised question to its entry, looked up with the normalised message (it answers only the
profile's own phrasings). The machine is shared, so figures vary from run to run.

    python bench/faq.py [--entries 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.faq import FaqIndex  # noqa: E402
from bot.faq_live import merged_profile  # noqa: E402
from bot.profile import FaqEntry, FaqTopic, Profile  # noqa: E402
from bot.profile_loader import load_profile  # noqa: E402
from bot.storage.faq_additions import Addition  # noqa: E402
from bot.text import normalize_for_matching  # noqa: E402

SEARCH_TARGET_MS = 5.0
BUILD_TARGET_S = 1.0


def questions() -> list[str]:
    data = yaml.safe_load((ROOT / "tests" / "data" / "faq_heldout.yaml").read_text("utf-8"))
    return [str(q) for rows in data.values() for _, q in rows]


def grown(profile: Profile, entries: int) -> Profile:
    """`profile` with its FAQ copied until it has `entries` entries."""
    originals = [e for t in profile.faq for e in t.entries]
    topics: list[FaqTopic] = []
    copy = 0
    while sum(len(t.entries) for t in topics) < entries:
        copied: list[FaqEntry] = []
        for entry in originals:
            if sum(len(t.entries) for t in topics) + len(copied) >= entries:
                break
            word = f"programme{copy}"  # a word of this copy's own
            questions = entry.questions.model_copy(
                update={
                    "ar": [f"{q} {word}" for q in entry.questions.ar],
                    "en": [f"{q} {word}" for q in entry.questions.en],
                }
            )
            copied.append(
                entry.model_copy(update={"id": f"{entry.id}-{copy}", "questions": questions})
            )
        topics.append(profile.faq[0].model_copy(update={"id": f"copy-{copy}", "entries": copied}))
        copy += 1
    return profile.model_copy(update={"faq": topics})


def staff_additions(profile: Profile, count: int) -> list[Addition]:
    """`count` additions as staff make them in the console: half new phrasings of existing
    entries, half new entries in both languages."""
    entries = [(t.id, e.id) for t in profile.faq for e in t.entries]
    additions = []
    for n in range(count):
        topic_id, entry_id = entries[n % len(entries)]
        if n % 2:
            additions.append(
                Addition(
                    n,
                    "entry",
                    f"staff-{n}",
                    topic_id,
                    None,
                    f"سؤال جديد رقم {n} عن البرنامج",
                    f"new question {n} about the programme",
                    f"إجابة {n}",
                    f"answer {n}",
                    "bench@example.org",
                    None,
                )  # type: ignore[arg-type]
            )
        else:
            additions.append(
                Addition(
                    n,
                    "phrasing",
                    entry_id,
                    None,
                    "ar",
                    f"صيغة جديدة {n} للسؤال",
                    None,
                    None,
                    None,
                    "bench@example.org",
                    None,
                )  # type: ignore[arg-type]
            )
    return additions


def rebuild(profile: Profile, additions: list[Addition]) -> FaqIndex:
    """What each process does when staff change the FAQ (bot/faq_live.py): merge, index."""
    return FaqIndex(merged_profile(profile, additions))


async def version_check_ms(profile: Profile, redis_url: str) -> tuple[float, float]:
    """What every FAQ search now costs first: LiveFaq.current() when nothing changed."""
    from redis.asyncio import Redis

    from bot.faq_live import LiveFaq

    async def none() -> list[Addition]:
        return []

    redis = Redis.from_url(redis_url)
    live = LiveFaq(profile, redis, none, "bench-faq")
    await live.current()
    times = []
    for _ in range(2000):
        start = time.perf_counter()
        await live.current()
        times.append((time.perf_counter() - start) * 1000)
    await redis.aclose()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99)]


def dict_index(profile: Profile) -> dict[str, str]:
    return {
        normalize_for_matching(q): entry.id
        for topic in profile.faq
        for entry in topic.entries
        for q in (*entry.questions.ar, *entry.questions.en)
    }


def lookup(index: dict[str, str], text: str) -> str | None:
    return index.get(normalize_for_matching(text))


def best_of(repeat: int, build: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        build()
        times.append(time.perf_counter() - start)
    return min(times)


def per_search_ms(search: Callable[[str], object], texts: list[str]) -> tuple[float, float]:
    """Median and 99th percentile of one search, in ms."""
    times = []
    for text in texts:
        start = time.perf_counter()
        search(text)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--redis", help="also time the per-search version check on this Redis")
    args = parser.parse_args()

    example = load_profile(ROOT / "profiles" / "example.yaml")
    large = grown(example, args.entries)
    texts = questions()
    FaqIndex(example)  # warm the imports and the data files once

    print(f"FAQ search: {len(texts)} questions; build best of {args.repeat}")
    print(f"{'':34} {'build':>10} {'search median':>14} {'search p99':>11}")
    for name, profile in (
        (f"example ({_size(example)} entries)", example),
        (f"grown ({_size(large)} entries)", large),
    ):
        build = best_of(args.repeat, partial(FaqIndex, profile))
        median, p99 = per_search_ms(partial(FaqIndex(profile).search, language="ar"), texts)
        print(f"{'FaqIndex, ' + name:34} {build * 1000:8.1f}ms {median:12.3f}ms {p99:9.3f}ms")
        baseline_build = best_of(args.repeat, partial(dict_index, profile))
        median, p99 = per_search_ms(partial(lookup, dict_index(profile)), texts)
        print(
            f"{'dict lookup, ' + name:34} {baseline_build * 1000:8.1f}ms "
            f"{median:12.3f}ms {p99:9.3f}ms"
        )
    for count in (1, 50):
        for name, profile in (("example", example), ("grown", large)):
            took = best_of(args.repeat, partial(rebuild, profile, staff_additions(profile, count)))
            label = f"rebuild, {name} + {count} staff additions"
            print(f"{label:34} {took * 1000:8.1f}ms")
    if args.redis:
        median, p99 = asyncio.run(version_check_ms(example, args.redis))
        print(f"{'version check (Redis GET), no change':34} {'':10} {median:12.3f}ms {p99:9.3f}ms")
    print(f"targets: search < {SEARCH_TARGET_MS:g} ms, build of 500 entries < {BUILD_TARGET_S:g} s")


def _size(profile: Profile) -> int:
    return sum(len(t.entries) for t in profile.faq)


if __name__ == "__main__":
    main()
