"""Sign-in attempts limited per account and per client address, counted in Redis so every
web process sees the same counts.

After ``ACCOUNT_FAILURES`` wrong passwords for one email within ``WINDOW_SECONDS``, further
attempts at that email are refused, even with the right password, until the window ends;
the same after ``ADDRESS_FAILURES`` failures from one address (whatever the emails). Unknown
emails are counted like known ones, so the refusal tells nothing about which accounts exist.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

WINDOW_SECONDS = 60
ACCOUNT_FAILURES = 5
ADDRESS_FAILURES = 30


class LoginThrottle:
    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis = redis
        self.prefix = f"tawasul:{namespace}:console:login-failures:"

    def _keys(self, email: str, address: str | None) -> tuple[str, str]:
        account = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return self.prefix + "account:" + account, self.prefix + "address:" + (address or "-")

    async def refused(self, email: str, address: str | None) -> bool:
        """Whether this attempt is refused before its password is even checked."""
        account_key, address_key = self._keys(email, address)
        account, by_address = await self.redis.mget(account_key, address_key)
        return int(account or 0) >= ACCOUNT_FAILURES or int(by_address or 0) >= ADDRESS_FAILURES

    async def failed(self, email: str, address: str | None) -> None:
        """Count a wrong email or password; the window starts at the first failure."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in self._keys(email, address):
                pipe.incr(key)
                pipe.expire(key, WINDOW_SECONDS, nx=True)
            await pipe.execute()

    async def succeeded(self, email: str) -> None:
        """A right password (not refused) clears the account's count, not the address's."""
        account_key, _ = self._keys(email, None)
        await self.redis.delete(account_key)
