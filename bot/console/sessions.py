"""Console sessions: a random id in a cookie, the session itself in Redis.

Redis is shared by every web process, so any of them can serve any request, and sign-out
deletes the session for all of them at once. A session whose account was disabled or given
a new password since ends at its next request (bot/console/guard.py). Only a hash of the
cookie's id is used as the key, so reading Redis does not give anyone a session to replay.
A session ends after ``IDLE_SECONDS`` without a request (each request renews it) and,
whatever happens, after ``MAX_AGE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

COOKIE = "tawasul_console"
IDLE_SECONDS = 30 * 60
MAX_AGE_SECONDS = 12 * 60 * 60
_PREFIX = "tawasul:console:session:"


@dataclass(frozen=True)
class Session:
    key: str  # the Redis key (a hash of the cookie's id)
    staff_id: int
    csrf_token: str
    created: float
    password_stamp: str  # the account's when signing in (bot.users.StaffMember)


def _key(session_id: str) -> str:
    return _PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def start(self, staff_id: int, password_stamp: str) -> tuple[str, Session]:
        """A new session for a staff member who just signed in: (cookie value, session)."""
        session_id = secrets.token_urlsafe(32)
        session = Session(
            _key(session_id), staff_id, secrets.token_urlsafe(32), time.time(), password_stamp
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                session.key,
                mapping={
                    "staff_id": staff_id,
                    "csrf": session.csrf_token,
                    "created": session.created,
                    "stamp": password_stamp,
                },
            )
            pipe.expire(session.key, IDLE_SECONDS)
            await pipe.execute()
        return session_id, session

    async def load(self, session_id: str) -> Session | None:
        """The live session for this cookie value (renewing its idle time), else None."""
        if not session_id or len(session_id) > 128:
            return None
        key = _key(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, IDLE_SECONDS)
            data, _ = await pipe.execute()
        if not data:
            return None
        try:
            session = Session(
                key,
                int(data[b"staff_id"]),
                data[b"csrf"].decode(),
                float(data[b"created"]),
                data[b"stamp"].decode(),
            )
        except (KeyError, ValueError):
            await self.redis.delete(key)
            return None
        if time.time() - session.created > MAX_AGE_SECONDS:
            await self.redis.delete(key)
            return None
        return session

    async def end(self, session: Session) -> None:
        """Sign-out: the session is gone for every web process at once."""
        await self.redis.delete(session.key)
