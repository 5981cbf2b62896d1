"""Twilio's message webhooks: the signature check, and a signed form as an InboundMessage.

WhatsApp addresses come as `whatsapp:+9665…`, SMS ones as `+9665…`; both become E.164 addresses
of their kind. Anything malformed is a ValueError (the gateway answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from bot.models import AddressKind, InboundMessage, Media
from channels.base import WebhookRequest

INBOUND_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"
SIGNATURE_HEADER = "x-twilio-signature"
WHATSAPP_PREFIX = "whatsapp:"
OCTET_STREAM = "application/octet-stream"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10  # Twilio delivers at most ten attachments per inbound message

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
SID = re.compile(r"[A-Za-z0-9]{2,64}")


def signed(validator: RequestValidator, request: WebhookRequest) -> bool:
    """Whether X-Twilio-Signature signs this URL and form with the account's auth token."""
    signature = next((v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER), None)
    if not signature:
        return False
    try:
        return bool(validator.validate(request.url, request.form, signature))
    except (TypeError, ValueError, UnicodeError):
        return False


def field(form: Mapping[str, str], name: str) -> str:
    return (form.get(name) or "").strip()


def _address(value: str) -> tuple[AddressKind, str]:
    """`whatsapp:+9665…` or `+9665…` as (kind, E.164 number)."""
    if not value:
        raise ValueError("no From")
    if value.startswith(WHATSAPP_PREFIX):
        kind, number = AddressKind.WHATSAPP, value.removeprefix(WHATSAPP_PREFIX)
    elif ":" in value:
        raise ValueError(f"unsupported Twilio channel {value.split(':', 1)[0][:20]!r}")
    else:
        kind, number = AddressKind.SMS, value
    if not E164.fullmatch(number):
        raise ValueError("From is not an E.164 phone number")
    return kind, number


def message_sid(form: Mapping[str, str], *names: str) -> str:
    """The first of these SID fields that is present; a ValueError when none or malformed."""
    sid = next((field(form, name) for name in names if field(form, name)), "")
    if not sid:
        raise ValueError(f"no {names[0]}")
    if not SID.fullmatch(sid):
        raise ValueError(f"malformed {names[0]}")
    return sid


def parse_message(channel: str, form: Mapping[str, str]) -> InboundMessage:
    sid = message_sid(form, "MessageSid")
    kind, address = _address(field(form, "From"))
    count_text = field(form, "NumMedia") or "0"
    if not count_text.isascii() or not count_text.isdigit():
        raise ValueError("NumMedia is not a number")
    count = int(count_text)
    if count > MAX_MEDIA:
        raise ValueError(f"NumMedia over {MAX_MEDIA}")
    media: list[Media] = []
    for index in range(count):
        url = field(form, f"MediaUrl{index}")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"MediaUrl{index} is not an http(s) URL")
        content_type = field(form, f"MediaContentType{index}") or OCTET_STREAM
        media.append(Media(content_type=content_type[:255], url=url))
    # A quick-reply button of a template, or a row of a list: its payload is our button id.
    button_id = field(form, "ButtonPayload") or field(form, "ListId") or None
    text = (form.get("Body") or "").strip()
    if not text and button_id:
        text = field(form, "ButtonText") or field(form, "ListTitle")
    profile_name = field(form, "ProfileName")[:200] or None
    return InboundMessage(
        channel=channel,
        address_kind=kind,
        address=address,
        provider_id=sid,
        text=text,
        button_id=button_id[:256] if button_id else None,
        media=tuple(media),
        sender_name=profile_name if kind is AddressKind.WHATSAPP else None,
    )
