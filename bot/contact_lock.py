"""One turn at a time per contact, whatever channel or web process the message came in on.

Inside a process an asyncio lock orders the turns; across processes a Redis key holds the
lock, owned by a random token and expiring on its own if its process dies mid-turn.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from bot.redis_batch import ScriptBatch

log = logging.getLogger(__name__)

LOCK_TIMEOUT_SECONDS = 30
RETRY_SECONDS = 0.005

# Each script takes a batch of locks, one key and token per turn (bot/redis_batch.py).
_ACQUIRE = f"""
local taken = {{}}
for i, key in ipairs(KEYS) do
    taken[i] = redis.call('set', key, ARGV[i], 'NX', 'PX', {LOCK_TIMEOUT_SECONDS * 1000}) and 1 or 0
end
return taken
"""

# Deletes a key only if it still holds our token: an expired lock taken over by another
# process is never released by the one that lost it.
_RELEASE = """
local released = {}
for i, key in ipairs(KEYS) do
    released[i] = 0
    if redis.call('get', key) == ARGV[i] then
        released[i] = redis.call('del', key)
    end
end
return released
"""


class LockTimeout(Exception):
    """Another process held the contact's lock for longer than LOCK_TIMEOUT_SECONDS."""


class ContactLocks:
    def __init__(self, redis: Redis) -> None:
        self._acquire_many = ScriptBatch(redis, _ACQUIRE)
        self._release_many = ScriptBatch(redis, _RELEASE)
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, contact_id: int) -> AsyncIterator[None]:
        local = self._local.get(contact_id)
        if local is None:
            local = self._local[contact_id] = asyncio.Lock()
        async with local:
            key = f"tawasul:lock:contact:{contact_id}"
            token = secrets.token_hex(8)
            await self._acquire(key, token)
            try:
                yield
            finally:
                await self._give_back(key, token)

    async def _give_back(self, key: str, token: str) -> None:
        try:
            await self._release_many(key, token)
        except Exception:  # the turn is saved; the key expires on its own
            log.warning("could not release %s; it expires in %d s", key, LOCK_TIMEOUT_SECONDS)

    async def _acquire(self, key: str, token: str) -> None:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while not await self._acquire_many(key, token):
            if time.monotonic() > deadline:
                raise LockTimeout(key)
            await asyncio.sleep(RETRY_SECONDS)
