"""What every channel is built with: settings, the shared Redis client, keys and the profile."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from bot.crypto import Cipher
from bot.media import MediaStore
from bot.profile import Profile
from bot.settings import Settings


@dataclass(frozen=True)
class ChannelContext:
    settings: Settings
    redis: Redis
    redis_url: str
    cipher: Cipher
    profile: Profile
    media: MediaStore
