"""One turn at a time per contact, whatever channel or web process the message came in on,
and one turn per provider message.

Inside a process an asyncio lock orders the turns; across processes a Redis key holds the
lock, owned by a random token and expiring on its own if its process dies mid-turn. Taking
the lock also claims the message's provider id, so a copy of it that is recorded while the
first is still being handled (a provider retrying too early, in another process) is turned
away; a copy that comes after the turn is turned away by the database, which knows it was
handled. The lock carries the conversation's version too, so a turn uses the state it read
with its message unless another turn saved since (then it reads it again).

A claim only counts while its owner lives: every process that takes claims keeps a short
"alive" key of its own fresh (each take renews it, and a turn that lasts renews it), and a
claim whose owner's key has lapsed — the process was killed — is taken over by the copy
that comes next. A turn that gives up (its lock wait timed out, it failed, it was cut off)
gives its claim back at once, so the provider's retry is handled instead of turned away.
Whatever slips through (an owner thought dead that was only slow) is stopped by the
database: a message is marked handled only once, and a turn that finds it handled already
saves nothing (bot/storage/inbound.py).
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
# How long a claimed provider id turns copies away at most. It only has to outlast a turn
# (its wait for the lock included): a copy arriving later finds the message handled in the
# database, or is handled then.
CLAIM_SECONDS = 2 * LOCK_TIMEOUT_SECONDS
# A process's claims count while its "alive" key lives; each take renews it, and so does a
# turn every ALIVE_RENEW_SECONDS. A killed process's claims lapse within ALIVE_SECONDS.
ALIVE_SECONDS = 5
ALIVE_RENEW_SECONDS = 1.0
ALIVE_PREFIX = "tawasul:alive:"
GIVE_UP_WAIT_SECONDS = 2.0
MAX_GIVEN_UP = 10_000
DUPLICATE = -1

# Claims the message and takes the lock. KEYS are the message's claim and its contact's
# lock, ARG the turn's token ("<process>.<turn>"). Answers DUPLICATE when a turn of a live
# process claimed the message, 0 when the lock is busy (the claim is kept: the turn tries
# again), or the version the last holder saved ('' if none). A claim of a process whose alive
# key has lapsed is taken over. Taking the lock deletes that version, so a holder that dies
# between saving and releasing leaves none behind and the next turn reads it again.
_TAKE = f"""
local me = string.match(ARG, '^([^.]*)')
redis.call('set', '{ALIVE_PREFIX}' .. me, '1', 'PX', {ALIVE_SECONDS * 1000})
local owner = redis.call('get', KEYS[1])
if owner and owner ~= ARG then
    local other = string.match(owner, '^([^.]*)')
    if other == me or redis.call('exists', '{ALIVE_PREFIX}' .. other) == 1 then
        return {DUPLICATE}
    end
    owner = false
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

# Gives a claim back (KEYS[1]) if it is still the turn's (ARG), so a copy is handled again.
_GIVE_UP_CLAIM = """
if redis.call('get', KEYS[1]) == ARG then
    redis.call('del', KEYS[1])
end
return 1
"""

# Renews the process's alive key (KEYS[1]) while one of its turns lasts.
_RENEW = f"""
redis.call('set', KEYS[1], '1', 'PX', {ALIVE_SECONDS * 1000})
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
    claim: str
    local: asyncio.Lock = field(repr=False)
    version_seen: str | None
    version_saved: str | None = None


class ContactLocks:
    def __init__(self, redis: Redis) -> None:
        steps = script_batch(redis)  # shared with the outbox: one Redis call per moment
        self._take_step = steps.add(_TAKE, keys_per_call=2)
        self._release_step = steps.add(_RELEASE)
        self._give_up_step = steps.add(_GIVE_UP_CLAIM)
        self._renew_step = steps.add(_RENEW)
        self._local: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        # Tokens only have to be unique: a random id for this process and a count of its
        # turns is that, without a system call for randomness on every message.
        self._owner = secrets.token_hex(8)
        self._turns = itertools.count()
        # Claims given up while Redis could not be reached: given back at the next take.
        self._given_up: list[tuple[str, str]] = []
        self._holding = 0
        self._renewing: asyncio.Task[None] | None = None

    async def take(self, contact_id: int, claim: str) -> Held | None:
        """Claim the message and wait for its contact's lock; None if the message is
        another turn's. Every Held must be given back with `give_back`; if the wait fails
        (a timeout, Redis gone, the caller cut off), the claim is given up here."""
        if self._given_up:
            await self._give_up_pending()
        local = self._local.get(contact_id)
        if local is None:
            local = self._local[contact_id] = asyncio.Lock()
        await local.acquire()
        key = f"tawasul:lock:contact:{contact_id}"
        token = f"{self._owner}.{next(self._turns)}"
        self._hold()
        try:
            taken = await self._take(claim, key, token)
        except BaseException:
            self._unhold()
            local.release()
            await self._give_up(claim, token)
            raise
        if taken == DUPLICATE:
            self._unhold()
            local.release()
            return None
        version = taken.decode() if isinstance(taken, bytes) else str(taken)
        return Held(key, token, claim, local, version or None)

    async def give_back(self, held: Held) -> None:
        try:
            await self._release_step(held.key, f"{held.token}|{held.version_saved or ''}")
        except Exception:  # the turn is saved; the key expires on its own
            log.warning("could not release %s; it expires in %d s", held.key, LOCK_TIMEOUT_SECONDS)
        finally:
            self._unhold()
            held.local.release()

    async def give_up(self, held: Held) -> None:
        """The turn was not saved: give its claim back, so a copy of the message (the
        provider's retry, the sweep) is handled instead of turned away as a duplicate."""
        await self._give_up(held.claim, held.token)

    async def _give_up(self, claim: str, token: str) -> None:
        try:
            # Bounded: a turn that is being cut off must not hang on a frozen Redis.
            await asyncio.wait_for(self._give_up_step(claim, token), GIVE_UP_WAIT_SECONDS)
        except BaseException:
            log.warning("could not give back claim %s now; it is given back later", claim)
            self._given_up.append((claim, token))
            # Claims lapse on their own after CLAIM_SECONDS: an outage's backlog is bounded.
            del self._given_up[:-MAX_GIVEN_UP]

    async def _give_up_pending(self) -> None:
        pending, self._given_up = self._given_up, []
        await asyncio.gather(*(self._give_up(claim, token) for claim, token in pending))

    async def _take(self, claim: str, key: str, token: str) -> object:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while (taken := await self._take_step((claim, key), token)) == 0:
            if time.monotonic() > deadline:
                raise LockTimeout(key)
            await asyncio.sleep(RETRY_SECONDS)
        return taken

    # -- staying alive while turns last ------------------------------------------------------
    def _hold(self) -> None:
        self._holding += 1
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.get_running_loop().create_task(self._renew())

    def _unhold(self) -> None:
        self._holding -= 1
        if self._holding == 0 and self._renewing is not None:
            self._renewing.cancel()
            self._renewing = None

    async def _renew(self) -> None:
        """While any turn of this process is under way, its claims stay alive (a turn can
        outlast ALIVE_SECONDS under load); it stops with the last turn."""
        alive = ALIVE_PREFIX + self._owner
        while True:
            await asyncio.sleep(ALIVE_RENEW_SECONDS)
            try:
                await self._renew_step(alive, "")
            except Exception:
                log.debug("could not renew %s", alive)
