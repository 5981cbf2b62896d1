"""The explicit table of channels (courier's registry) and building the enabled ones.

Entries name their class as "module:Class" and are imported only when the channel is on, so a
deployment without Telegram never loads python-telegram-bot.
"""

from __future__ import annotations

import importlib
import logging

from channels.base import Channel
from channels.context import ChannelContext

log = logging.getLogger(__name__)

CHANNELS: dict[str, str] = {
    "webchat": "channels.webchat:WebChatChannel",
    "twilio": "channels.twilio:TwilioChannel",
    "whatsapp": "channels.whatsapp:WhatsAppCloudChannel",
    "telegram": "channels.telegram:TelegramChannel",
    "email": "channels.email:EmailChannel",
}


def channel_class(name: str) -> type[Channel]:
    module_name, _, class_name = CHANNELS[name].partition(":")
    cls: type[Channel] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_channels(context: ChannelContext) -> dict[str, Channel]:
    """The channels whose credentials are set; logs which are on and why others are off."""
    channels: dict[str, Channel] = {}
    for name, reason in context.settings.channel_status().items():
        if reason is not None:
            log.info("channel %s: off (%s)", name, reason)
            continue
        try:
            channels[name] = channel_class(name)(context)  # type: ignore[call-arg]
        except ModuleNotFoundError as exc:
            log.warning("channel %s: off (not available in this version: %s)", name, exc)
            continue
        log.info("channel %s: on", name)
    return channels
