"""What a broadcast will look like before it goes: each language's text as the recipient gets
it (with the opt-out line the service adds), its SMS cost in segments, and the approved
WhatsApp template the service falls back on outside the 24-hour window. Built from the
service's own pieces (bot/storage/broadcast_audience.py, bot/send_budget.py), so the preview
cannot drift from what is sent."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from bot.i18n import N_
from bot.profile import Profile
from bot.send_budget import SmsEncoding, sms_encoding
from bot.storage.broadcast_audience import (
    SKIP_CANCELLED,
    SKIP_CHANNEL_OFF,
    SKIP_NO_TEMPLATE,
    SKIP_OPTED_OUT,
    SKIP_STOPPED,
    TEMPLATE_FIELD,
    TEMPLATE_NAMES,
    broadcast_text,
)
from bot.tables import Broadcast

# Translators: the channels a broadcast can go on, by the provider that carries them.
CHANNEL_LABELS = {
    "twilio": N_("SMS and WhatsApp (Twilio)"),
    "whatsapp": N_("WhatsApp (Meta)"),
    "telegram": N_("Telegram"),
    "email": N_("Email"),
    "webchat": N_("Web chat"),
}
# Translators: the WhatsApp providers, in the note on templates outside the 24-hour window.
PROVIDER_LABELS = {"whatsapp": N_("WhatsApp (Meta)"), "twilio": N_("WhatsApp (Twilio)")}
# Translators: why a recipient of a broadcast was not sent it.
SKIP_LABELS = {
    SKIP_OPTED_OUT: N_("withdrew their consent"),
    SKIP_STOPPED: N_("stopped messages on this address"),
    SKIP_CANCELLED: N_("the broadcast was cancelled"),
    SKIP_NO_TEMPLATE: N_("WhatsApp window closed and no approved template"),
    SKIP_CHANNEL_OFF: N_("the channel is off"),
}


@dataclass(frozen=True)
class Preview:
    language: str
    text: str  # what the recipient reads, the opt-out line included
    sms: SmsEncoding


@dataclass(frozen=True)
class TemplateUse:
    provider: str  # a channel name: "whatsapp" (Meta) or "twilio"
    name: str | None  # the profile's template, None when none fits this provider
    reference: str | None  # the name or id the provider knows it by
    language: str | None


def previews(text_ar: str, text_en: str) -> list[Preview]:
    """Each language's message as the service words it (broadcast_text)."""
    draft = Broadcast(text_ar=text_ar, text_en=text_en)
    found = []
    for language in ("ar", "en"):
        text = broadcast_text(draft, language)
        found.append(Preview(language, text, sms_encoding(text)))
    return found


def templates_used(profile: Profile, channels_on: Collection[str]) -> list[TemplateUse]:
    """For each WhatsApp provider that is on, the template the service picks (the same
    order as message_for: `updates`, then `broadcast_update`)."""
    uses = []
    for provider, attribute in TEMPLATE_FIELD.items():
        if provider not in channels_on:
            continue
        use = TemplateUse(provider, None, None, None)
        for name in TEMPLATE_NAMES:
            template = profile.templates.get(name)
            reference = getattr(template, attribute, None) if template is not None else None
            if template is not None and reference:
                use = TemplateUse(provider, name, reference, template.language)
                break
        uses.append(use)
    return uses
