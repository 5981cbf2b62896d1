"""Attempt limits shared by every process: how many times something costly or guessable
(a verification code sent to a phone, a code typed, an identity check on a request) may be
tried for one subject (a phone number, a request reference, a contact, a client address) in
a span of time.

The counts live in Redis, so that every web process (and every web-chat session, which costs
nothing to open) draws on the same ones; a journey holds a `TurnAttempts` and asks it before
it acts. An attempt is taken for all its subjects at once or not at all, in one script, so
five sessions asking at the same moment cannot all slip under a limit of three. Subjects are
kept only as keyed hashes (bot/crypto.py), never a phone number in clear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

PREFIX = "tawasul:attempts"


@dataclass(frozen=True)
class AttemptLimit:
    """At most `count` attempts per subject in `seconds`, counted from the first of them."""

    name: str
    count: int
    seconds: int


Check = tuple[AttemptLimit, str | None]  # a None subject (unknown here) is not counted


def sender_subject(address_kind: str, address: str) -> str:
    """The subject for "one sender": its address on its channel (a web-chat session, a
    Telegram chat, an e-mail address), the same whichever database the deployment uses."""
    return f"{address_kind}:{address}"


# KEYS: one counter per check; ARGV: (count, seconds) per check. Answers 1 and counts the
# attempt against every key when all are under their limit; 0 and counts nothing otherwise.
_TAKE = """
for i = 1, #KEYS do
    if tonumber(redis.call('get', KEYS[i]) or '0') >= tonumber(ARGV[2 * i - 1]) then
        return 0
    end
end
for i = 1, #KEYS do
    if redis.call('incr', KEYS[i]) == 1 then
        redis.call('expire', KEYS[i], ARGV[2 * i])
    end
end
return 1
"""

# Gives one attempt back on each key that still counts one (a check that succeeded).
_GIVE_BACK = """
for i = 1, #KEYS do
    if tonumber(redis.call('get', KEYS[i]) or '0') > 0 then
        redis.call('decr', KEYS[i])
    end
end
return 1
"""


class Attempts:
    """The process's attempt counters, over its Redis client."""

    def __init__(self, redis: Redis, hasher: Callable[[str], str]) -> None:
        self._redis = redis
        self._hash = hasher
        self._take: Any = redis.register_script(_TAKE)
        self._give_back: Any = redis.register_script(_GIVE_BACK)

    def _keys_and_limits(self, checks: Sequence[Check]) -> tuple[list[str], list[int]]:
        keys: list[str] = []
        arguments: list[int] = []
        for limit, subject in checks:
            if subject:
                keys.append(f"{PREFIX}:{limit.name}:{self._hash(f'{limit.name}:{subject}')}")
                arguments.extend((limit.count, limit.seconds))
        return keys, arguments

    async def take(self, checks: Sequence[Check]) -> bool:
        """Take one attempt against every (limit, subject): True, counted, when each subject
        is under its limit; False, and nothing counted, when any is not."""
        keys, arguments = self._keys_and_limits(checks)
        if not keys:
            return True
        return bool(await self._take(keys=keys, args=arguments))

    async def give_back(self, checks: Sequence[Check]) -> None:
        """The attempt proved right (the code, the identity): it does not count against
        the honest beneficiary."""
        keys, _ = self._keys_and_limits(checks)
        if keys:
            await self._give_back(keys=keys, args=[])

    async def exhausted(self, checks: Sequence[Check]) -> bool:
        """Whether any subject has used up its attempts (read only)."""
        keys, arguments = self._keys_and_limits(checks)
        if not keys:
            return False
        counts = await self._redis.mget(keys)
        limits = arguments[0::2]
        return any(int(n or 0) >= limit for n, limit in zip(counts, limits, strict=True))
