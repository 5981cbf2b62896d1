"""One turn at a time per contact, whatever channel or web process the message came in on.

Inside a process an asyncio lock orders the turns; across processes a Redis key holds the
lock, owned by a random token and expiring on its own if its process dies mid-turn. The lock
also carries the conversation's version, so a turn can use the state it read with its
message unless another turn saved since (then it reads it again).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.redis_batch import ScriptBatch

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 30
RETRY_SECONDS = 0.005
VERSION_SECONDS = 24 * 3600  # an idle conversation is simply read again

# Each script takes a batch of locks, one key and argument per turn (bot/redis_batch.py).
# Beside each lock, `<key>:version` holds the version of the conversation the last holder
# saved. Taking the lock reads it and deletes it, so a holder that dies between saving and
# releasing leaves no version behind, and the next turn reads the conversation again.
_ACQUIRE = f"""
local taken = {{}}
for i, key in ipairs(KEYS) do
    taken[i] = 0
    if redis.call('set', key, ARGV[i], 'NX', 'PX', {LOCK_TIMEOUT_SECONDS * 1000}) then
        taken[i] = redis.call('get', key .. ':version') or ''
        redis.call('del', key .. ':version')
    end
end
return taken
"""

# Deletes a lock only if it still holds our token (an expired lock taken over by another
# process is never released by the one that lost it), recording the version it saved.
# ARGV[i] is "token|version"; an empty version (the turn saved nothing) records none.
_RELEASE = f"""
local released = {{}}
for i, key in ipairs(KEYS) do
    released[i] = 0
    local token, version = string.match(ARGV[i], '^([^|]*)|(.*)$')
    if redis.call('get', key) == token then
        released[i] = redis.call('del', key)
        if version ~= '' then
            redis.call('set', key .. ':version', version, 'EX', {VERSION_SECONDS})
        end
    end
end
return released
"""


@dataclass
class Held:
    """A held contact lock: the conversation version the last holder saved (None when
    unknown), and the one this turn saved, for the next holder."""

    version_seen: str | None
    version_saved: str | None = None


class LockTimeout(Exception):
    """Another process held the contact's lock for longer than LOCK_TIMEOUT_SECONDS."""


class ContactLocks:
    def __init__(self, redis: Redis) -> None:
        self._acquire_many = ScriptBatch(redis, _ACQUIRE)
        self._release_many = ScriptBatch(redis, _RELEASE)
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, contact_id: int) -> AsyncIterator[Held]:
        local = self._local.get(contact_id)
        if local is None:
            local = self._local[contact_id] = asyncio.Lock()
        async with local:
            key = f"tawasul:lock:contact:{contact_id}"
            token = secrets.token_hex(8)
            held = Held(await self._acquire(key, token))
            try:
                yield held
            finally:
                await self._give_back(key, f"{token}|{held.version_saved or ''}")

    async def _give_back(self, key: str, token_and_version: str) -> None:
        try:
            await self._release_many(key, token_and_version)
        except Exception:  # the turn is saved; the key expires on its own
            log.warning("could not release %s; it expires in %d s", key, LOCK_TIMEOUT_SECONDS)

    async def _acquire(self, key: str, token: str) -> str | None:
        """Wait for the lock; returns the version the last holder saved, if known."""
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while (taken := await self._acquire_many(key, token)) == 0:
            if time.monotonic() > deadline:
                raise LockTimeout(key)
            await asyncio.sleep(RETRY_SECONDS)
        version = taken.decode() if isinstance(taken, bytes) else str(taken)
        return version or None
