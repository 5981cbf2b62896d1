"""One thread per beneficiary: what a reply needs to answer their last email.

The Message-ID, References and subject of the latest email from an address are remembered in
Redis (encrypted, keyed by the address's keyed hash) for THREAD_TTL_SECONDS, before the router
can queue any reply to it; the reply then carries `In-Reply-To`, `References` and
"Re: <their subject>". Without a thread a reply starts a new email.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.crypto import Cipher, DecryptionError
from channels.email.parsing import ParsedEmail

log = logging.getLogger(__name__)

THREAD_TTL_SECONDS = 90 * 24 * 3600

_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|\u0631\u062f)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Thread:
    message_id: str | None
    references: tuple[str, ...]
    subject: str

    def reply_subject(self) -> str | None:
        """Their subject as a reply ("Re: …" once), or None when they gave none."""
        if not self.subject:
            return None
        return self.subject if _REPLY_PREFIX.match(self.subject) else "Re: " + self.subject


class ThreadMemory:
    """The latest thread per address, in Redis."""

    def __init__(self, redis: Redis, cipher: Cipher) -> None:
        self._redis = redis
        self._cipher = cipher

    def _key(self, address: str) -> str:
        return "tawasul:email:thread:" + self._cipher.lookup_hash(address.lower())

    async def remember(self, parsed: ParsedEmail) -> None:
        """What the replies to this email need, before the router can queue any reply."""
        value = json.dumps(
            {
                "message_id": parsed.message_id,
                "references": list(parsed.references),
                "subject": parsed.subject,
            }
        )
        await self._redis.set(
            self._key(parsed.message.address),
            self._cipher.encrypt(value),
            ex=THREAD_TTL_SECONDS,
        )

    async def recall(self, address: str) -> Thread | None:
        """The thread to answer in, or None (never an error: a reply then starts a new one)."""
        try:
            stored = await self._redis.get(self._key(address))
            if stored is None:
                return None
            token = stored.decode() if isinstance(stored, bytes) else str(stored)
            data: dict[str, Any] = json.loads(self._cipher.decrypt(token))
            return Thread(
                message_id=data.get("message_id"),
                references=tuple(data.get("references") or ()),
                subject=str(data.get("subject") or ""),
            )
        except (RedisError, DecryptionError, ValueError, TypeError, AttributeError) as exc:
            log.warning("email: thread unavailable (%s); sending a new email", exc)
            return None
