"""Inbound (`POST /webhooks/whatsapp`): the signature check and the webhook's messages.

`X-Hub-Signature-256` is checked against the app secret over the raw body;
`entry[].changes[].value.messages[]` become `InboundMessage`s (text, interactive button and list
replies, template quick-reply buttons, media by id, placeholders for locations, contacts and
unsupported types) and `value.statuses[]` become `StatusUpdate`s (channels/whatsapp/statuses.py).
Anything addressed to another phone number id is ignored. Media ids travel as
`Media(url="media:<id>")` until the worker's `fetch_media` downloads and stores them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any

from bot.models import AddressKind, InboundMessage, Media
from channels.base import Inbound
from channels.whatsapp.json_fields import json_list, json_object, json_string, timestamp
from channels.whatsapp.limits import MAX_PROVIDER_ID, MAX_REPLY_BUTTON_ID
from channels.whatsapp.statuses import parse_status

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/whatsapp"
SIGNATURE_HEADER = "x-hub-signature-256"

MEDIA_TYPES = ("image", "document", "audio", "video", "sticker")
MEDIA_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
WA_ID = re.compile(r"^[0-9]{5,20}$")


def _header(headers: dict[str, str], name: str) -> str | None:
    """A header by name, whatever its case (the request's headers arrive as a plain dict)."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def signature(secret: str, body: bytes) -> str:
    """The value Meta puts in X-Hub-Signature-256 for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(app_secret: bytes, headers: dict[str, str], body: bytes) -> bool:
    """Whether X-Hub-Signature-256 is the app secret's HMAC of the raw body."""
    provided = _header(headers, SIGNATURE_HEADER)
    if not provided or not provided.startswith("sha256="):
        return False
    expected = hmac.new(app_secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(
        expected.encode(), provided[len("sha256=") :].strip().lower().encode("utf-8")
    )


def parse_webhook(channel: str, phone_number_id: str | None, body: bytes) -> list[Inbound]:
    """The messages and statuses of one webhook body for this phone number id."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError("body is not JSON") from exc
    data = json_object(data, "body")
    found: list[Inbound] = []
    for entry in json_list(data.get("entry"), "entry"):
        for change in json_list(json_object(entry, "entry[]").get("changes"), "changes"):
            change = json_object(change, "changes[]")
            value = change.get("value")
            if change.get("field", "messages") != "messages" or value is None:
                continue
            found.extend(_parse_value(channel, phone_number_id, json_object(value, "value")))
    return found


def _parse_value(channel: str, phone_number_id: str | None, value: dict[str, Any]) -> list[Inbound]:
    metadata = value.get("metadata")
    number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    if str(number_id) != phone_number_id:
        log.info("whatsapp webhook for phone number id %r ignored", number_id)
        return []
    names: dict[str, str] = {}
    for contact in json_list(value.get("contacts"), "contacts"):
        contact = json_object(contact, "contacts[]")
        profile = contact.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        if isinstance(contact.get("wa_id"), str) and isinstance(name, str) and name.strip():
            names[contact["wa_id"]] = name.strip()
    found: list[Inbound] = []
    for item in json_list(value.get("messages"), "messages"):
        message = _parse_message(channel, json_object(item, "messages[]"), names)
        if message is not None:
            found.append(message)
    for item in json_list(value.get("statuses"), "statuses"):
        status = parse_status(channel, json_object(item, "statuses[]"))
        if status is not None:
            found.append(status)
    return found


def _parse_message(
    channel: str, item: dict[str, Any], names: dict[str, str]
) -> InboundMessage | None:
    sender = json_string(item.get("from"), "messages[].from")
    if not WA_ID.match(sender):
        raise ValueError("messages[].from must be a phone number's digits")
    wamid = json_string(item.get("id"), "messages[].id")
    if len(wamid) > MAX_PROVIDER_ID:
        raise ValueError("messages[].id is too long")
    kind = json_string(item.get("type"), "messages[].type")
    text, button_id = "", None
    media: tuple[Media, ...] = ()
    if kind == "text":
        text = json_string(json_object(item.get("text"), "text").get("body"), "text.body")
    elif kind == "interactive":
        text, button_id = _interactive_reply(json_object(item.get("interactive"), kind))
    elif kind == "button":  # a template's quick-reply button
        button = json_object(item.get("button"), kind)
        text = json_string(button.get("text"), "button.text", required=False)
        button_id = json_string(button.get("payload"), "button.payload", required=False) or None
    elif kind in MEDIA_TYPES:
        content = json_object(item.get(kind), kind)
        media_id = json_string(content.get("id"), f"{kind}.id")
        if not MEDIA_ID.match(media_id):
            raise ValueError(f"{kind}.id is not a media id")
        mime = json_string(content.get("mime_type"), f"{kind}.mime_type", required=False)
        filename = json_string(content.get("filename"), f"{kind}.filename", required=False)
        text = json_string(content.get("caption"), f"{kind}.caption", required=False)
        media = (
            Media(
                content_type=mime or "application/octet-stream",
                url=f"media:{media_id}",
                filename=filename or None,
            ),
        )
    elif kind == "location":
        text = _location_text(json_object(item.get("location"), kind))
    elif kind == "contacts":
        text = _contacts_text(json_list(item.get("contacts"), kind))
    elif kind in ("reaction", "system", "ephemeral", "request_welcome"):
        return None  # not something said to us: nothing to answer
    else:
        text = f"[{kind}]"  # unsupported: the router answers with the menu
    if button_id is not None and len(button_id) > MAX_REPLY_BUTTON_ID:
        raise ValueError("button id is too long")
    return InboundMessage(
        channel=channel,
        address_kind=AddressKind.WHATSAPP,
        address="+" + sender,
        provider_id=wamid,
        text=text.strip(),
        button_id=button_id,
        media=media,
        sender_name=names.get(sender),
        received_at=timestamp(item.get("timestamp")),
    )


def _interactive_reply(interactive: dict[str, Any]) -> tuple[str, str | None]:
    kind = interactive.get("type")
    if kind in ("button_reply", "list_reply"):
        reply = json_object(interactive.get(kind), str(kind))
        title = json_string(reply.get("title"), f"{kind}.title", required=False)
        return title, json_string(reply.get("id"), f"{kind}.id")
    return f"[interactive:{kind}]", None


def _location_text(location: dict[str, Any]) -> str:
    parts = [
        str(location[key]) for key in ("name", "address") if isinstance(location.get(key), str)
    ]
    latitude, longitude = location.get("latitude"), location.get("longitude")
    if isinstance(latitude, int | float) and isinstance(longitude, int | float):
        parts.append(f"https://maps.google.com/?q={latitude},{longitude}")
    return "[location] " + " ".join(parts)


def _contacts_text(contacts: list[Any]) -> str:
    parts: list[str] = []
    for contact in contacts:
        if not isinstance(contact, dict):
            continue
        name = contact.get("name")
        if isinstance(name, dict) and isinstance(name.get("formatted_name"), str):
            parts.append(name["formatted_name"])
        phones = contact.get("phones")
        for phone in phones if isinstance(phones, list) else []:
            if isinstance(phone, dict) and isinstance(phone.get("phone"), str):
                parts.append(phone["phone"])
    return "[contacts] " + " ".join(parts)
