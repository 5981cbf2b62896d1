"""Only what the beneficiary wrote this time: quoted history and signatures stripped.

Quoted history is ">" lines, "On ... wrote:" and its Arabic forms, Outlook's
"-----Original Message-----" and "From: ... Sent: ..." blocks; a signature starts at "-- " or
is a "Sent from my iPhone"-style line.
"""

from __future__ import annotations

import re
import unicodedata

from bot.text import normalize_for_matching

# Arabic words are escapes: no Arabic literals in code (user-facing Arabic is in the catalogs).
_AR_IN = "\u0641\u064a"  # "in/on" that starts an Arabic reply header
_AR_WROTE = ("\u0643\u062a\u0628", "\u0643\u062a\u0627\u0628\u0647")  # "wrote", "writing"
_AR_BY = "\u0628\u0648\u0627\u0633\u0637\u0647"  # "by" (Gmail: "... was written by X:")
_AR_ORIGINAL = (
    "\u0627\u0644\u0631\u0633\u0627\u0644\u0647 \u0627\u0644\u0627\u0635\u0644\u064a\u0647"
)
_AR_FROM = "\u0645\u0646"
_AR_SENT_LABELS = (
    "\u062a\u0627\u0631\u064a\u062e \u0627\u0644\u0627\u0631\u0633\u0627\u0644",  # date sent
    "\u0627\u0631\u0633\u0644\u062a",  # sent (f.)
    "\u0627\u0631\u0633\u0644",  # sent
    "\u062a\u0645 \u0627\u0644\u0627\u0631\u0633\u0627\u0644",  # was sent
    "\u0627\u0644\u062a\u0627\u0631\u064a\u062e",  # date
)
_AR_SENT_FROM = (
    "\u0627\u0631\u0633\u0644\u062a \u0645\u0646",  # sent from
    "\u0627\u0631\u0633\u0644 \u0645\u0646",  # sent from
    "\u0645\u0631\u0633\u0644 \u0645\u0646",  # sent from
    "\u0645\u0631\u0633\u0644\u0647 \u0645\u0646",  # sent from (f.)
    "\u062a\u0645 \u0627\u0644\u0627\u0631\u0633\u0627\u0644 \u0645\u0646",  # was sent from
)
_FROM_LABELS = ("from", _AR_FROM)
_SENT_LABELS = ("sent", "date", *_AR_SENT_LABELS)
_ON_WROTE = re.compile(r"on\s.*\swrote\s*:?", re.IGNORECASE | re.DOTALL)
_WROTE_END = re.compile(r".*\swrote\s*:", re.IGNORECASE | re.DOTALL)
_LABEL = re.compile(r"^[*\s]*([^:*]{1,30})\*?\s*:")
_SENT_FROM = re.compile(
    r"^(sent from|sent with|sent via|sent using|get outlook for|envoy\u00e9 de)\b", re.IGNORECASE
)
_SEPARATOR = re.compile(r"^[\s_=\-]*$")


def _visible(line: str) -> str:
    """The line without invisible format characters (bidi marks), stripped."""
    return "".join(ch for ch in line if unicodedata.category(ch) != "Cf").strip()


def _reply_header_lines(lines: list[str], index: int) -> int:
    """How many lines from `index` form an "On ... wrote:" header (0 when none)."""
    first = _visible(lines[index])
    if not first:
        return 0
    english = first[:3].lower() == "on "
    arabic = normalize_for_matching(first).startswith(_AR_IN + " ")
    if not english and not arabic and "wrote" not in first.lower():
        return 0
    for span in (1, 2, 3):
        candidate = " ".join(_visible(line) for line in lines[index : index + span])
        if not candidate.endswith(":") and not candidate.lower().endswith("wrote"):
            continue
        if not (re.search(r"\d", candidate) or "@" in candidate):
            continue  # every client writes a date or an address in it
        if english and _ON_WROTE.fullmatch(candidate):
            return span
        if arabic:
            words = set(normalize_for_matching(candidate).split())
            if words & {*_AR_WROTE, _AR_BY}:
                return span
        if not english and not arabic and _WROTE_END.fullmatch(candidate):
            return span  # Thunderbird: "07/01/2024 10:00, Layla wrote:"
    return 0


def _label(line: str) -> str | None:
    found = _LABEL.match(_visible(line))
    return normalize_for_matching(found.group(1)) if found else None


def _is_header_block(lines: list[str], index: int) -> bool:
    """Outlook's "From: ... / Sent: ..." (or Date:) block that starts a quoted message."""
    if _label(lines[index]) not in _FROM_LABELS:
        return False
    following = [line for line in lines[index + 1 : index + 6] if line.strip()][:4]
    return any(_label(line) in _SENT_LABELS for line in following)


def _is_original_message(line: str) -> bool:
    visible = _visible(line)
    return "--" in visible and normalize_for_matching(visible) in ("original message", _AR_ORIGINAL)


def _is_signature(line: str) -> bool:
    visible = _visible(line)
    if line.rstrip() == "--" or line == "-- ":
        return True
    if len(visible) > 80:
        return False
    if _SENT_FROM.match(visible):
        return True
    words = normalize_for_matching(visible)
    return any(words == phrase or words.startswith(phrase + " ") for phrase in _AR_SENT_FROM)


def _without_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if _is_signature(line):
            return lines[:index]
    return lines


def _unquoted(lines: list[str]) -> list[str]:
    return [line for line in lines if not _visible(line).startswith(">")]


def strip_quoted(text: str) -> str:
    """The new text of a reply: quoted history and signature removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index in range(len(lines)):
        span = _reply_header_lines(lines, index)
        if span:
            before = _unquoted(_without_signature(lines[:index]))
            if any(line.strip() for line in before):
                lines = lines[:index]  # top-posting: everything after the header is history
            else:  # bottom-posting: the answer is below the quote
                lines = _unquoted(lines[index + span :])
            break
        if _is_original_message(lines[index]) or _is_header_block(lines, index):
            lines = lines[:index]
            break
    lines = _unquoted(_without_signature(lines))
    while lines and _SEPARATOR.match(lines[-1]):
        lines.pop()
    cleaned = "\n".join(line.rstrip() for line in lines).strip()
    return re.sub(r"\n{3,}", "\n\n", cleaned)
