"""Counting what one sender does, in Redis, so every web process shares the same count.

A fixed window per limit (`INCR` then `EXPIRE`, one round trip for all the limits one
message is counted against): simple, cheap, and exact enough to stop a flood. The counted
identities are keyed hashes (bot/crypto.py `lookup_hash`), never phone numbers in clear.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

PREFIX = "tawasul:rate"
# A sender over a limit is told so once in this long, not once per message.
NOTICE_EVERY_SECONDS = 15 * 60


@dataclass(frozen=True)
class Limit:
    """At most `count` events per `window` seconds for one identity of `scope`; 0 = none."""

    scope: str
    count: int
    window: int


@dataclass(frozen=True)
class Verdict:
    """Whether an event is allowed; when not, how long until it would be, and whether this
    is the first refusal the sender should be told about."""

    allowed: bool
    retry_after: int = 0
    tell_sender: bool = False


ALLOWED = Verdict(True)


class RateLimiter:
    def __init__(self, redis: Redis, *, enabled: bool = True) -> None:
        self.redis = redis
        self.enabled = enabled

    async def hit(self, checks: Sequence[tuple[Limit, str]]) -> Verdict:
        """Count one event against each (limit, identity) and say whether it is allowed."""
        active = [(limit, who) for limit, who in checks if limit.count > 0 and who]
        if not self.enabled or not active:
            return ALLOWED
        now = time.time()
        keys = []
        async with self.redis.pipeline(transaction=False) as pipe:
            for limit, who in active:
                window = int(now // limit.window)
                key = f"{PREFIX}:{limit.scope}:{who}:{window}"
                keys.append(key)
                pipe.incr(key)
                # Its name pins the window, so setting the TTL again on each hit is harmless
                # (and EXPIRE … NX needs Redis 7; the embedded one is older).
                pipe.expire(key, limit.window + 1)
            counts = (await pipe.execute())[0::2]
        over = [
            (limit, who)
            for (limit, who), count in zip(active, counts, strict=True)
            if int(count) > limit.count
        ]
        if not over:
            return ALLOWED
        retry_after = max(limit.window - int(now % limit.window) for limit, _ in over)
        limit, who = over[0]
        told = await self.redis.set(
            f"{PREFIX}:told:{limit.scope}:{who}", b"1", nx=True, ex=NOTICE_EVERY_SECONDS
        )
        return Verdict(False, max(1, retry_after), bool(told))
