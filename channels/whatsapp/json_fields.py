"""Reading Meta's webhook JSON: each field checked for its shape, so that anything malformed
is a ValueError (the gateway answers 400) instead of a crash deeper in the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def json_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be an object")
    return value


def json_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    return value


def json_string(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"{where} must be a non-empty string")
    return value


def timestamp(value: Any) -> datetime:
    """Meta's Unix timestamp (a string of seconds); now when absent or unusable."""
    try:
        seconds = int(str(value))
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        return datetime.now(UTC)
