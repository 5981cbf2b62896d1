"""The explicit table of channels (courier's registry) and building the enabled ones.

Adding a channel is its module (the channel class and its settings class) and one line here.
Each entry names its class as "module:Class"; whether the channel is on, and why not, comes
from the class's own settings (`settings_class`, read from the environment and `.env`), so
nothing about a channel is listed anywhere else. Reading them imports every channel's module
(with its provider's library) at start, on or off: about 0.2 s in all, measured.
"""

from __future__ import annotations

import importlib
import logging
from typing import Protocol

from channels.base import Channel, ChannelSettings
from channels.context import ChannelContext

log = logging.getLogger(__name__)

CHANNELS: dict[str, str] = {
    "webchat": "channels.webchat:WebChatChannel",
    "twilio": "channels.twilio:TwilioChannel",
    "whatsapp": "channels.whatsapp:WhatsAppCloudChannel",
    "telegram": "channels.telegram:TelegramChannel",
    "email": "channels.email:EmailChannel",
}


class ChannelFactory(Protocol):
    """What the registry needs of a channel class: its settings, and building it from them."""

    settings_class: type[ChannelSettings]

    def __call__(self, context: ChannelContext, settings: ChannelSettings, /) -> Channel: ...


def channel_class(name: str) -> ChannelFactory:
    module_name, _, class_name = CHANNELS[name].partition(":")
    cls: ChannelFactory = getattr(importlib.import_module(module_name), class_name)
    return cls


def channel_status() -> dict[str, str | None]:
    """Each channel's name → None when on, or the reason it is off (logged at start)."""
    status: dict[str, str | None] = {}
    for name in CHANNELS:
        try:
            status[name] = channel_class(name).settings_class().off_reason()
        except ModuleNotFoundError as exc:
            status[name] = f"not available in this version: {exc}"
    return status


def build_channels(context: ChannelContext) -> dict[str, Channel]:
    """The channels whose settings are complete, in the table's order; logs which are on and
    why the others are off."""
    channels: dict[str, Channel] = {}
    for name in CHANNELS:
        try:
            cls = channel_class(name)
        except ModuleNotFoundError as exc:
            log.warning("channel %s: off (not available in this version: %s)", name, exc)
            continue
        settings = cls.settings_class()
        reason = settings.off_reason()
        if reason is not None:
            log.info("channel %s: off (%s)", name, reason)
            continue
        channels[name] = cls(context, settings)
        log.info("channel %s: on", name)
    return channels
