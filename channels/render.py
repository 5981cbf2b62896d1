"""Degrading rich messages for channels that lack buttons (Rasa's rule): a numbered list."""

from __future__ import annotations

from bot.models import OutboundMessage


def numbered_text(message: OutboundMessage) -> str:
    """The text followed by the buttons as "1. title" lines; numbers answer like buttons."""
    if not message.buttons:
        return message.text
    lines = [f"{number}. {button.title}" for number, button in enumerate(message.buttons, 1)]
    return message.text + "\n\n" + "\n".join(lines)


def split_text(text: str, limit: int) -> list[str]:
    """Split on paragraph, then line, then word boundaries so no part exceeds `limit`."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    remaining = text
    while len(remaining) > limit:
        window = remaining[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(" "))
        if cut <= 0:
            cut = limit
        parts.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining:
        parts.append(remaining)
    return parts
