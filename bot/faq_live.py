"""The FAQ as staff have taught it: the profile's FAQ with the phrasings and entries added
in the console (bot/storage/faq_additions.py) merged over it, in every web and worker
process, from the next message on, without a restart and without rewriting the profile.

How a change reaches every process: the console writes the addition to the database, then
increments one Redis counter (:func:`announce_change`). Each FAQ search first reads that
counter (one GET, only on turns that search the FAQ); when it differs from the one the
process built its index for, the process reads the additions again and rebuilds its index
(about 25 ms for the example profile, 0.5 s for 500 entries: bench/faq.py) off the event
loop, while other messages wait for that one rebuild. If Redis cannot be read, the index the
process has keeps answering."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from bot.faq import FaqIndex
from bot.profile import FaqEntry, Profile
from bot.storage.faq_additions import Addition

__all__ = [
    "FaqSource",
    "FaqState",
    "LiveFaq",
    "StaticFaq",
    "announce_change",
    "merged_profile",
    "version_key",
]

log = logging.getLogger(__name__)


def version_key(namespace: str) -> str:
    """The counter that every process of one deployment watches (namespace: its queue)."""
    return f"{namespace}:faq:version"


async def announce_change(redis: Redis, namespace: str) -> int:
    """Tell every process that the FAQ's additions changed (call after they are saved)."""
    return int(await redis.incr(version_key(namespace)))


def merged_profile(profile: Profile, additions: Sequence[Addition]) -> Profile:
    """`profile` with the additions merged: new phrasings appended to their entries, new
    entries at the end of their topics. An addition whose entry or topic the profile no
    longer has is left out (the profile was edited since); the file is never touched."""
    if not additions:
        return profile
    topics = [topic.model_copy(deep=True) for topic in profile.faq]
    by_topic = {topic.id: topic for topic in topics}
    entries: dict[str, FaqEntry] = {e.id: e for topic in topics for e in topic.entries}
    for addition in additions:
        if addition.kind == "entry" and addition.topic_id in by_topic:
            if addition.entry_id in entries:
                continue
            entry = FaqEntry.model_validate(
                {
                    "id": addition.entry_id,
                    "questions": {"ar": [addition.question_ar], "en": [addition.question_en]},
                    "answer": {"ar": addition.answer_ar, "en": addition.answer_en},
                }
            )
            by_topic[addition.topic_id].entries.append(entry)
            entries[entry.id] = entry
        elif addition.kind == "phrasing" and addition.entry_id in entries:
            phrasing = addition.question_en if addition.language == "en" else addition.question_ar
            variants = entries[addition.entry_id].questions.get(addition.language or "ar")
            if phrasing and phrasing not in variants:
                variants.append(phrasing)
        else:
            log.warning("FAQ addition %s left out: its entry or topic is gone", addition.id)
    return profile.model_copy(update={"faq": topics})


@dataclass(frozen=True)
class FaqState:
    """The FAQ one turn searches: the merged profile (for the entries' answers) and its index."""

    profile: Profile
    index: FaqIndex
    additions: int = 0


class FaqSource(Protocol):
    async def current(self) -> FaqState: ...


class StaticFaq:
    """The profile's FAQ alone (tests, and wherever there is nothing to learn from)."""

    def __init__(self, profile: Profile) -> None:
        self._state = FaqState(profile, FaqIndex(profile))

    async def current(self) -> FaqState:
        return self._state


_UNSEEN = b"\x00unseen"


class LiveFaq:
    """The profile's FAQ with staff additions, rebuilt when the Redis counter moves."""

    def __init__(
        self,
        profile: Profile,
        redis: Redis,
        load: Callable[[], Awaitable[Sequence[Addition]]],
        namespace: str,
    ) -> None:
        self._base = profile
        self._redis = redis
        self._load = load
        self._key = version_key(namespace)
        self._state = FaqState(profile, FaqIndex(profile))
        self._version: bytes | None = _UNSEEN  # the first search reads the additions
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[bytes | str | None] | None = None

    async def current(self) -> FaqState:
        try:
            found = await self._read_version()
        except Exception as exc:  # Redis away: keep answering with what we have
            log.warning("FAQ version not read (%s): answering with the index built", exc)
            return self._state
        version = found.encode() if isinstance(found, str) else found
        if version != self._version:
            async with self._lock:
                if version != self._version:
                    await self._rebuild(version)
        return self._state

    async def _read_version(self) -> bytes | str | None:
        """The counter, read once for all the searches that ask while a read is on its way
        (a burst of questions costs one Redis round trip, not one each)."""
        pending = self._pending
        if (
            pending is None
            or pending.done()
            or pending.get_loop() is not asyncio.get_running_loop()
        ):
            pending = self._pending = asyncio.ensure_future(self._redis.get(self._key))
        return await asyncio.shield(pending)

    async def _rebuild(self, version: bytes | None) -> None:
        try:
            additions = await self._load()
        except Exception as exc:
            log.warning("FAQ additions not read (%s): answering with the index built", exc)
            return
        started = time.perf_counter()
        if additions or self._state.additions:
            profile = merged_profile(self._base, additions)
            index = await asyncio.to_thread(FaqIndex, profile)
            self._state = FaqState(profile, index, len(additions))
        self._version = version
        log.info(
            "FAQ of process %d at version %s: %d staff additions, index built in %.1f ms",
            os.getpid(),
            (version or b"0").decode(),
            len(additions),
            (time.perf_counter() - started) * 1000,
        )
