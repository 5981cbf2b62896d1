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
        # A paragraph or line break in the second half of the window reads better than the
        # last space; otherwise the last space; otherwise a hard cut.
        cut = next(
            (at for sep in ("\n\n", "\n") if (at := window.rfind(sep)) >= limit // 2),
            window.rfind(" "),
        )
        if cut <= 0:
            cut = limit
        parts.append(remaining[:cut].rstrip())
        remaining = remaining[cut:].lstrip()
    if remaining:
        parts.append(remaining)
    return parts
