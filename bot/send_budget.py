"""Outbound rate limits per channel, in Redis, shared by every worker (courier's budget).

Each limit is a GCRA bucket (one Redis key holding the "theoretical arrival time"): a send
reserves its slot atomically in a Lua script that reads Redis's own clock, so every worker
process on every machine draws on the same budget, and the caller sleeps until its slot.
An SMS costs its segments; a provider's "slow down" (HTTP 429 and the like) pauses the
channel for the time it asked. `TAWASUL_RATE_LIMITS=off` turns every limit off.

The setting is a comma-separated list of `scope=rate[/burst]` (messages a second, and how
many seconds of sends may go at once); unnamed scopes keep the providers' defaults below.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.models import AddressKind


@dataclass(frozen=True)
class Limit:
    rate: float  # messages (SMS: segments) a second
    burst: float = 0.0  # seconds of sends allowed at once, above the steady rate


# The providers' own limits, for one sender each (one deployment has one of each):
# Meta Cloud API 80/s per phone number id (can be raised to 1,000); Twilio per sender,
# 10/s here (a long code allows 1, a short code 100, a messaging service the sum of its
# numbers: set yours); Telegram 30/s overall and about 1/s per chat (short bursts pass);
# email per SMTP account (most providers allow a few a second).
DEFAULT_LIMITS: dict[str, Limit] = {
    "whatsapp": Limit(80),
    "twilio-sms": Limit(10),
    "twilio-whatsapp": Limit(80),
    "telegram": Limit(30),
    "telegram-chat": Limit(1, burst=3),
    "email": Limit(5, burst=1),
}

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local start = math.max(tat, now, paused)
local horizon = tonumber(ARGV[4])
if horizon >= 0 and start - now - tonumber(ARGV[3]) > horizon then
  return -math.floor(start - now - tonumber(ARGV[3]) - horizon) - 1
end
local after = start + tonumber(ARGV[1]) * tonumber(ARGV[2])
local ttl = math.ceil((after - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', after), 'PX', ttl)
local wait = start - now - tonumber(ARGV[3])
if wait < 0 then wait = 0 end
return math.floor(wait)
"""

_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_at = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_at > current then
  redis.call('SET', KEYS[1], string.format('%d', until_at), 'PX', math.ceil(ARGV[1] / 1000) + 1000)
end
return 1
"""


class RateLimitsError(ValueError):
    """TAWASUL_RATE_LIMITS could not be read; says which part and why."""


def parse_limits(value: str | None) -> dict[str, Limit] | None:
    """The limits a setting gives: None when `off`; defaults for scopes it does not name."""
    text = (value or "").strip()
    if text.lower() == "off":
        return None
    if text.lower() == "on":  # the providers' defaults, said out loud
        text = ""
    limits = dict(DEFAULT_LIMITS)
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, equals, number = part.partition("=")
        name = name.strip().lower()
        if not equals or name not in DEFAULT_LIMITS:
            raise RateLimitsError(
                f"{part!r}: expected scope=rate[/burst] with a scope among "
                f"{', '.join(DEFAULT_LIMITS)}, or 'off'"
            )
        rate_text, _, burst_text = number.partition("/")
        try:
            rate, burst = float(rate_text), float(burst_text or 0)
        except ValueError:
            raise RateLimitsError(f"{part!r}: the rate and burst must be numbers") from None
        if rate <= 0 or burst < 0:
            raise RateLimitsError(f"{part!r}: the rate must be above 0 and the burst not below")
        limits[name] = Limit(rate, burst)
    return limits


GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsEncoding:
    """How a text travels by SMS: its alphabet, its length in that alphabet's units, and
    how many units a segment holds alone and once the text is split."""

    name: str  # "GSM-7" or "UCS-2"
    units: int
    single: int
    part: int

    @property
    def segments(self) -> int:
        return 1 if self.units <= self.single else -(-self.units // self.part)


def sms_encoding(text: str) -> SmsEncoding:
    """GSM-7 (160 alone, 153 each when split; the extended characters take two units) when
    every character has a place in it; otherwise (any Arabic letter) UCS-2, 70 and 67."""
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        return SmsEncoding("GSM-7", sum(2 if ch in GSM7_EXTENDED else 1 for ch in text), 160, 153)
    return SmsEncoding("UCS-2", sum(2 if ord(ch) > 0xFFFF else 1 for ch in text), 70, 67)


def sms_segments(text: str) -> int:
    """How many SMS segments a text costs (see `sms_encoding`)."""
    return sms_encoding(text).segments


def scopes_for(channel: str, kind: AddressKind, address: str) -> list[tuple[str, str]]:
    """The budgets one send draws on: (limit name, Redis scope) pairs."""
    if channel == "twilio":
        name = "twilio-sms" if kind is AddressKind.SMS else "twilio-whatsapp"
        return [(name, name)]
    if channel == "telegram":
        return [("telegram", "telegram"), ("telegram-chat", f"telegram-chat:{address}")]
    if channel in ("whatsapp", "email"):
        return [(channel, channel)]
    return []  # the web chat and the terminal have no provider to respect


def cost_of(channel: str, kind: AddressKind, text: str) -> int:
    return sms_segments(text) if kind is AddressKind.SMS else 1


class SendBudget:
    """Waits for a send's slot in the shared budgets; `off` (limits None) never waits."""

    def __init__(self, redis: Redis, limits: Mapping[str, Limit] | None, prefix: str) -> None:
        self.limits = limits
        self.prefix = f"tawasul:budget:{prefix}"
        self._reserve: Any = redis.register_script(_RESERVE)
        self._pause: Any = redis.register_script(_PAUSE)

    async def take(
        self,
        channel: str,
        kind: AddressKind,
        address: str,
        text: str,
        *,
        horizon: float | None = None,
    ) -> float:
        """Reserve this send's slot in each budget it draws on and sleep until it comes;
        returns the seconds waited. With `horizon` (bulk sends) a slot further ahead than
        that is not reserved: the caller waits and asks again, so bulk never books the
        budget far ahead and a reply asking meanwhile gets the next slot."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        ready_at = await self.reserve(channel, kind, address, text, horizon=horizon)
        await sleep_until(ready_at)
        return max(0.0, loop.time() - started) if self.limits is not None else 0.0

    async def reserve(
        self,
        channel: str,
        kind: AddressKind,
        address: str,
        text: str,
        *,
        horizon: float | None = None,
    ) -> float:
        """Reserve the send's slot in each budget and return when it comes (the loop's
        clock), without sleeping for it: one recipient's messages reserved one after the
        other keep that order, even when each is sent only once the one before is."""
        loop = asyncio.get_running_loop()
        if self.limits is None:
            return loop.time()
        cost = cost_of(channel, kind, text)
        horizon_us = -1 if horizon is None else int(horizon * 1_000_000)
        ready_at = loop.time()
        for name, scope in scopes_for(channel, kind, address):
            limit = self.limits.get(name)
            if limit is None:
                continue
            interval_us = 1_000_000 / limit.rate
            keys = [f"{self.prefix}:{scope}", f"{self.prefix}:pause:{scope.split(':')[0]}"]
            args = [interval_us, cost, limit.burst * 1e6, horizon_us]
            while True:
                answer = int(await self._reserve(keys=keys, args=args))
                if answer >= 0:
                    break
                await asyncio.sleep(-answer / 1_000_000)  # too far ahead: ask again then
            ready_at = max(ready_at, loop.time() + answer / 1_000_000)
        return ready_at

    async def slow_down(self, channel: str, kind: AddressKind, seconds: float) -> None:
        """The provider said to slow down: no send on this channel's budgets for `seconds`."""
        if self.limits is None or seconds <= 0:
            return
        for _name, scope in scopes_for(channel, kind, ""):
            key = f"{self.prefix}:pause:{scope.split(':')[0]}"
            await self._pause(keys=[key], args=[int(seconds * 1_000_000)])


async def sleep_until(ready_at: float) -> None:
    """Sleep until the loop's clock reaches `ready_at` (at once if it has)."""
    delay = ready_at - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
