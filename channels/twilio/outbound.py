"""A message as Messages API requests: text with numbered choices (Twilio has no buttons),
media as MediaUrls on WhatsApp and as links on SMS, long texts split across requests."""

from __future__ import annotations

from typing import Any

from bot.models import AddressKind, OutboundMessage
from channels.render import numbered_text, split_text

# One API request carries at most 1,600 characters of Body, for SMS and WhatsApp alike. An SMS
# segment is only 160 GSM-7 characters, or 70 in UCS-2 (any Arabic letter makes the whole text
# UCS-2, 67 per part once concatenated), but Twilio splits a long Body into segments itself and
# the phone joins them again; so we send up to 1,600 characters per request and split only
# longer texts, at paragraph/line/word boundaries, into several requests.
MAX_BODY = 1600


def message_requests(kind: AddressKind, message: OutboundMessage) -> list[dict[str, Any]]:
    """The fields of each Messages API request, in sending order (the media on the first)."""
    text = numbered_text(message)
    media_urls = [item.url for item in message.media if item.url]
    if kind is AddressKind.SMS and media_urls:
        # MMS does not reach Saudi numbers: an SMS carries the links instead.
        text = "\n".join([text, *media_urls]) if text else "\n".join(media_urls)
        media_urls = []
    parts = split_text(text, MAX_BODY) if text else [""]
    requests: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        fields: dict[str, Any] = {"body": part}
        if index == 0 and media_urls:
            fields["media_url"] = media_urls
        requests.append(fields)
    return requests
