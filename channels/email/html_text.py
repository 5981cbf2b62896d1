"""HTML email made plain text: visible text, line breaks at block boundaries, and the quoted
history that mail clients mark in the markup (Gmail, Thunderbird, Outlook) left out."""

from __future__ import annotations

import logging
from html.parser import HTMLParser

log = logging.getLogger(__name__)

_BLOCK_TAGS = frozenset(
    "address article aside br dd div dl dt footer h1 h2 h3 h4 h5 h6 header hr li ol p pre "
    "section table tr ul".split()
)
_SKIPPED_TAGS = frozenset({"blockquote", "head", "script", "style", "title", "template"})
_SKIPPED_CLASSES = frozenset({"gmail_quote", "gmail_signature", "moz-cite-prefix"})
# Outlook puts the reply header and the whole quoted message after these, as siblings.
_HISTORY_IDS = frozenset({"appendonsend", "divrplyfwdmsg", "mail-editor-reference-message"})


class _HtmlText(HTMLParser):
    """Visible text with line breaks at block boundaries; quoted history left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: str | None = None
        self._depth = 0
        self._stopped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._stopped:
            return
        if self._skipping is not None:
            self._depth += tag == self._skipping
            return
        attributes = {key: value or "" for key, value in attrs}
        if attributes.get("id", "").lower() in _HISTORY_IDS:
            self._stopped = True
            return
        if tag in _SKIPPED_TAGS or _SKIPPED_CLASSES & set(attributes.get("class", "").split()):
            if tag not in ("br", "hr", "img"):
                self._skipping, self._depth = tag, 1
            return
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self._stopped and self._skipping is None and tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self._stopped:
            return
        if self._skipping is not None:
            if tag == self._skipping:
                self._depth -= 1
                if self._depth == 0:
                    self._skipping = None
            return
        if tag in _BLOCK_TAGS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._stopped and self._skipping is None:
            self.parts.append(" ".join(data.split()) if data.strip() else " ")


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser gives up on some broken markup: keep what it read
        log.debug("email: HTML part only partly readable", exc_info=True)
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(lines)
