"""Inbound messages recorded but never handled: what the inbound sweep hands back to the
router (worker/sweep.py).

A message stays "received" when the process handling it died, or its turn was cut off, after
it was recorded; the provider's retry usually recovers it, and this finds the ones no retry
will (the retry came too early and was turned away, or never came).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from bot.db import Database
from bot.models import AddressKind, InboundMessage, Media
from bot.storage.inbound_rows import RECEIVED
from bot.tables import Base

_messages = Base.metadata.tables["messages"]
_addresses = Base.metadata.tables["contact_addresses"]
_contacts = Base.metadata.tables["contacts"]


def unhandled_messages(
    db: Database, recorded_before: datetime, recorded_after: datetime, limit: int
) -> list[InboundMessage]:
    """The oldest unhandled inbound messages recorded in that span, rebuilt as their channel
    first gave them (blocking: run it on the database thread)."""
    query = (
        select(
            _messages.c.channel,
            _addresses.c.kind,
            _addresses.c.address,
            _messages.c.provider_id,
            _messages.c.body,
            _messages.c.payload,
            _contacts.c.display_name,
            _messages.c.created_at,
        )
        .join(_addresses, _addresses.c.id == _messages.c.address_id)
        .join(_contacts, _contacts.c.id == _addresses.c.contact_id)
        .where(
            # Written out, so that the database sees its partial index's own condition.
            text(f"messages.direction = 'in' AND messages.status = '{RECEIVED}'"),
            _messages.c.created_at < recorded_before,
            _messages.c.created_at > recorded_after,
        )
        .order_by(_messages.c.id)
        .limit(limit)
    )
    with db.sessions() as session:
        rows = session.execute(query).all()
    return [_message(*row) for row in rows]


def _message(
    channel: str,
    kind: str,
    address: str,
    provider_id: str,
    body: str | None,
    payload: dict[str, Any] | None,
    sender_name: str | None,
    created_at: datetime,
) -> InboundMessage:
    payload = payload or {}
    media = tuple(
        Media(
            content_type=item.get("content_type") or "application/octet-stream",
            url=item.get("url"),
            filename=item.get("filename"),
            stored_path=item.get("stored_path"),
        )
        for item in payload.get("media") or []
    )
    return InboundMessage(
        channel=channel,
        address_kind=AddressKind(kind),
        address=address,
        provider_id=provider_id,
        text=body or "",
        button_id=payload.get("button_id"),
        media=media,
        sender_name=sender_name,
        received_at=created_at,
    )
