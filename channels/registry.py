"""The explicit table of channels (courier's registry) and building the enabled ones."""

from __future__ import annotations

import logging
from collections.abc import Callable

from channels.base import Channel
from channels.context import ChannelContext
from channels.webchat import WebChatChannel

log = logging.getLogger(__name__)

# name → factory. A provider joins here when its module exists; until then its settings are
# reported at start-up but it stays off.
CHANNEL_FACTORIES: dict[str, Callable[[ChannelContext], Channel]] = {
    "webchat": WebChatChannel,
}


def build_channels(context: ChannelContext) -> dict[str, Channel]:
    """The channels whose credentials are set; logs which are on and why others are off."""
    channels: dict[str, Channel] = {}
    for name, reason in context.settings.channel_status().items():
        factory = CHANNEL_FACTORIES.get(name)
        if reason is None and factory is not None:
            channels[name] = factory(context)
        elif reason is None:
            reason = "not implemented yet"
        if name in channels:
            log.info("channel %s: on", name)
        else:
            log.info("channel %s: off (%s)", name, reason)
    return channels
