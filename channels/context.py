"""What every channel is built with: the gateway's settings (its public URL, storage), the
shared Redis client, keys and the profile. A channel's own settings (credentials) come
beside it, from its `settings_class` (channels/base.py `ChannelSettings`)."""

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
