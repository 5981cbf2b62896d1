"""What a handler asks to change besides its replies; the router applies these in storage,
in the same transaction as the replies, so handlers stay free of SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class RecordConsent:
    purpose: str
    granted: bool
    source: str
    wording_version: str


@dataclass(frozen=True)
class Audit:
    action: str
    details: dict[str, Any] = field(default_factory=dict)


Effect = SetLanguage | RecordConsent | Audit
