"""An OutboundMessage as Graph API message objects, in sending order.

Text up to 4,096 characters (longer texts are split); up to three buttons whose titles fit in
20 characters become reply buttons; up to ten become a list (row titles cut to 24 characters,
the full title kept as the row's description); more become numbered text. The list's opening
button shows LIST_BUTTON_LABEL, "☰": the channel does not know the beneficiary's language
(handlers do), the label must not be empty, and the menu symbol reads the same in Arabic and
English, right to left or left to right, with nothing to translate.
"""

from __future__ import annotations

from typing import Any

from bot.models import Button, Media, OutboundMessage
from channels.render import numbered_text, split_text
from channels.whatsapp.limits import (
    MAX_INTERACTIVE_BODY,
    MAX_LIST_ROWS,
    MAX_REPLY_BUTTON_ID,
    MAX_REPLY_BUTTON_TITLE,
    MAX_REPLY_BUTTONS,
    MAX_ROW_DESCRIPTION,
    MAX_ROW_ID,
    MAX_ROW_TITLE,
    MAX_TEXT,
)

LIST_BUTTON_LABEL = "☰"
ELLIPSIS = "…"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def render(message: OutboundMessage) -> list[dict[str, Any]]:
    """The Graph API message objects (without `messaging_product` and `to`) for one message,
    in sending order: media first, then the text, whose last part carries the buttons."""
    payloads: list[dict[str, Any]] = [_media_payload(m) for m in message.media if m.url]
    buttons = message.buttons
    if buttons and not (_fits_reply_buttons(buttons) or _fits_list(buttons)):
        text, buttons = numbered_text(message), ()
    else:
        text = message.text
    if not buttons:
        payloads.extend(
            {"type": "text", "text": {"preview_url": False, "body": part}}
            for part in split_text(text, MAX_TEXT)
            if part.strip()
        )
        return payloads
    parts = split_text(text, MAX_TEXT) if text.strip() else [LIST_BUTTON_LABEL]
    tail = split_text(parts.pop(), MAX_INTERACTIVE_BODY)
    body = tail.pop()
    payloads.extend(
        {"type": "text", "text": {"preview_url": False, "body": part}}
        for part in parts + tail
        if part.strip()
    )
    payloads.append({"type": "interactive", "interactive": _interactive(body, buttons)})
    return payloads


def _fits_reply_buttons(buttons: tuple[Button, ...]) -> bool:
    titles = [b.title for b in buttons]
    return (
        len(buttons) <= MAX_REPLY_BUTTONS
        and all(0 < len(t) <= MAX_REPLY_BUTTON_TITLE for t in titles)
        and len(set(titles)) == len(titles)  # Meta wants the reply buttons' titles unique
        and all(0 < len(b.id) <= MAX_REPLY_BUTTON_ID for b in buttons)
        and len({b.id for b in buttons}) == len(buttons)
    )


def _fits_list(buttons: tuple[Button, ...]) -> bool:
    return (
        len(buttons) <= MAX_LIST_ROWS
        and all(0 < len(b.id) <= MAX_ROW_ID and b.title.strip() for b in buttons)
        and len({b.id for b in buttons}) == len(buttons)
    )


def _interactive(body: str, buttons: tuple[Button, ...]) -> dict[str, Any]:
    if _fits_reply_buttons(buttons):
        return {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons
                ]
            },
        }
    rows: list[dict[str, Any]] = []
    for b in buttons:
        row = {"id": b.id, "title": _truncate(b.title, MAX_ROW_TITLE)}
        if len(b.title) > MAX_ROW_TITLE:
            row["description"] = _truncate(b.title, MAX_ROW_DESCRIPTION)
        rows.append(row)
    return {
        "type": "list",
        "body": {"text": body},
        "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]},
    }


def _media_payload(media: Media) -> dict[str, Any]:
    main = media.content_type.split("/", 1)[0]
    kind = main if main in ("image", "audio", "video") else "document"
    content: dict[str, Any] = {"link": media.url}
    if kind == "document" and media.filename:
        content["filename"] = media.filename
    return {"type": kind, kind: content}


def template_payload(meta_name: str, language: str, variables: dict[str, str]) -> dict[str, Any]:
    """A template message; variables "1", "2"… are positional, other names are named ones."""
    template: dict[str, Any] = {"name": meta_name, "language": {"code": language}}
    if variables:
        if all(key.isdigit() for key in variables):
            parameters = [
                {"type": "text", "text": variables[key]} for key in sorted(variables, key=int)
            ]
        else:
            parameters = [
                {"type": "text", "parameter_name": key, "text": value}
                for key, value in variables.items()
            ]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return {"type": "template", "template": template}
