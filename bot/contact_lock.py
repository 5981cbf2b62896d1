"""One turn at a time per contact, whatever channel or web process the message came in on,
and one turn per provider message.

Inside a process an asyncio lock orders the turns; across processes a Redis key holds the
lock, owned by a random token and expiring on its own if its process dies mid-turn. Taking
the lock also claims the message's provider id, so a copy of it that is recorded while the
first is still being handled (a provider retrying too early, in another process) is turned
away; a copy that comes after the turn is turned away by the database, which knows it was
handled. The lock carries the conversation's version too, so a turn uses the state it read
with its message unless another turn saved since (then it reads it again).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
import weakref
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bot.redis_batch import script_batch

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 30
RETRY_SECONDS = 0.005
VERSION_SECONDS = 24 * 3600  # an idle conversation is simply read again
# How long a claimed provider id turns copies away. It only has to outlast a turn: a copy
# arriving later finds the message handled in the database, or, if its process died before
# handling it, is handled then (the provider's retry is what recovers the message).
CLAIM_SECONDS = 10 * 60
DUPLICATE = -1

# Claims the message and takes the lock. KEYS are the message's claim and its contact's
# lock, ARG the turn's token. Answers DUPLICATE when another turn claimed the message, 0 when
# the lock is busy (the claim is kept: the turn tries again), or the version the last holder
# saved ('' if none). Taking the lock deletes that version, so a holder that dies between
# saving and releasing leaves none behind and the next turn reads the conversation again.
_TAKE = f"""
local owner = redis.call('get', KEYS[1])
if owner and owner ~= ARG then
    return {DUPLICATE}
end
if not owner then
    redis.call('set', KEYS[1], ARG, 'EX', {CLAIM_SECONDS})
end
if not redis.call('set', KEYS[2], ARG, 'NX', 'PX', {LOCK_TIMEOUT_SECONDS * 1000}) then
    return 0
end
local version = redis.call('get', KEYS[2] .. ':version') or ''
redis.call('del', KEYS[2] .. ':version')
return version
"""

# Deletes the lock only if it still holds our token (an expired lock taken over by another
# process is never released by the one that lost it), recording the version it saved.
# ARG is "token|version"; an empty version (the turn saved nothing) records none.
_RELEASE = f"""
local token, version = string.match(ARG, '^([^|]*)|(.*)$')
if redis.call('get', KEYS[1]) ~= token then
    return 0
end
redis.call('del', KEYS[1])
if version ~= '' then
    redis.call('set', KEYS[1] .. ':version', version, 'EX', {VERSION_SECONDS})
end
return 1
"""


class LockTimeout(Exception):
    """Another process held the contact's lock for longer than LOCK_TIMEOUT_SECONDS."""


@dataclass
class Held:
    """A held contact lock: the conversation version the last holder saved (None when
    unknown), and the one this turn saved, for the next holder."""

    key: str
    token: str
    local: asyncio.Lock = field(repr=False)
    version_seen: str | None
    version_saved: str | None = None


class ContactLocks:
    def __init__(self, redis: Redis) -> None:
        steps = script_batch(redis)  # shared with the outbox: one Redis call per moment
        self._take_step = steps.add(_TAKE, keys_per_call=2)
        self._release_step = steps.add(_RELEASE)
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        # Tokens only have to be unique: a random id for this process and a count of its
        # turns is that, without a system call for randomness on every message.
        self._owner = secrets.token_hex(8)
        self._turns = itertools.count()

    async def take(self, contact_id: int, claim: str) -> Held | None:
        """Claim the message and wait for its contact's lock; None if the message is
        another turn's. Every Held must be given back with `give_back`."""
        local = self._local.get(contact_id)
        if local is None:
            local = self._local[contact_id] = asyncio.Lock()
        await local.acquire()
        key = f"tawasul:lock:contact:{contact_id}"
        token = f"{self._owner}.{next(self._turns)}"
        try:
            taken = await self._take(claim, key, token)
        except BaseException:
            local.release()
            raise
        if taken == DUPLICATE:
            local.release()
            return None
        version = taken.decode() if isinstance(taken, bytes) else str(taken)
        return Held(key, token, local, version or None)

    async def give_back(self, held: Held) -> None:
        try:
            await self._release_step(held.key, f"{held.token}|{held.version_saved or ''}")
        except Exception:  # the turn is saved; the key expires on its own
            log.warning("could not release %s; it expires in %d s", held.key, LOCK_TIMEOUT_SECONDS)
        finally:
            held.local.release()

    async def _take(self, claim: str, key: str, token: str) -> object:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while (taken := await self._take_step((claim, key), token)) == 0:
            if time.monotonic() > deadline:
                raise LockTimeout(key)
            await asyncio.sleep(RETRY_SECONDS)
        return taken
