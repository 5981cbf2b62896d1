"""Composition root: builds the pieces a process needs (web, worker, chat) from settings.

It only holds references; each piece keeps its own job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from redis.asyncio import BlockingConnectionPool, Redis

from bot.crypto import Cipher, resolve_secret, use_cipher
from bot.db import Database
from bot.embedded_redis import EmbeddedRedis
from bot.faq_live import LiveFaq
from bot.media import MediaStore, media_store_for
from bot.models import PHONE_KINDS, AddressKind
from bot.profile import Profile
from bot.profile_loader import load_profile
from bot.settings import Settings
from bot.storage import Store
from channels.base import Channel
from channels.context import ChannelContext
from channels.registry import build_channels

log = logging.getLogger(__name__)

REDIS_CONNECTIONS = 100
REDIS_CONNECTION_WAIT_SECONDS = 10.0


@dataclass
class Runtime:
    settings: Settings
    profile: Profile
    cipher: Cipher
    db: Database
    store: Store
    redis: Redis
    redis_url: str
    # Where attachments are kept (var/media, or the object store every host shares).
    media: MediaStore
    channels: dict[str, Channel] = field(default_factory=dict)
    embedded: EmbeddedRedis | None = None

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        await self.redis.aclose()
        await asyncio.to_thread(self.db.close)
        if self.embedded is not None:
            self.embedded.close()


def redis_url_for(settings: Settings, *, embedded_redis: bool) -> tuple[str, EmbeddedRedis | None]:
    """The configured Redis, or the embedded one under `var/` when none is configured."""
    if settings.redis_url:
        return settings.redis_url, None
    if not embedded_redis:
        raise RuntimeError("TAWASUL_REDIS_URL is not set")
    embedded = EmbeddedRedis(settings.var_dir)
    return embedded.url, embedded


def cipher_for(settings: Settings) -> Cipher:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    cipher = Cipher(resolve_secret(secret, settings.var_dir))
    use_cipher(cipher)
    return cipher


async def open_runtime(
    settings: Settings,
    *,
    embedded_redis: bool = True,
    redis_url: str | None = None,
    with_channels: bool = True,
) -> Runtime:
    """Everything a process needs; the profile is validated here, so a bad one stops start-up."""
    profile = load_profile(settings.profile)
    cipher = cipher_for(settings)
    media = media_store_for(settings, cipher)
    await media.check()  # a wrong bucket or credentials stop start-up, with a clear sentence
    embedded = None
    if redis_url is None:
        redis_url, embedded = redis_url_for(settings, embedded_redis=embedded_redis)
    # A burst of requests waits its turn for a connection instead of failing at once (a plain
    # pool raises "Too many connections" past its size, and each such request was a 503).
    redis = Redis(
        connection_pool=BlockingConnectionPool.from_url(
            redis_url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_CONNECTION_WAIT_SECONDS
        )
    )
    db = Database(settings.sqlalchemy_url)
    store = Store(db, cipher)
    runtime = Runtime(settings, profile, cipher, db, store, redis, redis_url, media, {}, embedded)
    if with_channels:
        runtime.channels = build_channels(
            ChannelContext(settings, redis, redis_url, cipher, profile, media)
        )
        for channel in runtime.channels.values():
            await channel.start()
    return runtime


def media_problem(settings: Settings) -> str | None:
    """Why the configured object store cannot be used (checked before serving or working, so
    a wrong bucket or credentials stop the command with a sentence); None when it can."""
    if settings.media_store != "s3":
        return None
    from bot.media_s3 import ObjectStoreError

    try:
        asyncio.run(media_store_for(settings, cipher_for(settings)).check())
    except ObjectStoreError as exc:
        return str(exc)
    return None


# A verification code goes by SMS when the deployment can send one (it reaches basic phones
# too), else on WhatsApp.
PHONE_KINDS_BY_PREFERENCE = PHONE_KINDS  # SMS first, then WhatsApp


def phone_route(runtime: Runtime) -> tuple[str, AddressKind] | None:
    """How this deployment reaches a phone it has not heard from (a verification code)."""
    return phone_route_among(runtime.channels)


def phone_route_among(channels: Mapping[str, Channel]) -> tuple[str, AddressKind] | None:
    """The first channel, in the registry's order, that says it can reach a phone on the
    preferred kind (`Channel.phone_kinds`), then on the next kind; None when none can."""
    for kind in PHONE_KINDS_BY_PREFERENCE:
        for name, channel in channels.items():
            if kind in channel.phone_kinds():
                return name, kind
    return None


def live_faq(runtime: Runtime) -> LiveFaq:
    """The FAQ with staff's additions, watched through the deployment's Redis counter."""
    store = runtime.store
    return LiveFaq(
        runtime.profile, runtime.redis, store.faq_additions.all, runtime.settings.queue_name
    )
