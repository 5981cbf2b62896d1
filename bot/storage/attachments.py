"""The files beneficiaries send, one row per attachment of an inbound message.

A message is recorded with its media's references only (the provider's URL, media id or file
id): downloading can take minutes, and the provider waits for our answer. The worker fetches
each file afterwards; this table says where each one is: `pending` (its reference only),
`stored` (`stored_path` under var/media, also written into the message's payload), or
`failed` (the last error, after the retries). A support request or complaint keeps the
message id and the attachment's position, so the file is found here once it is in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db import Database
from bot.models import Media, utcnow
from bot.tables import MEDIA_ERROR_LENGTH, Message, MessageMedia

PENDING = "pending"
STORED = "stored"
FAILED = "failed"
MAX_ERROR = MEDIA_ERROR_LENGTH


@dataclass(frozen=True)
class Attachment:
    """An attachment as the worker and the console see it."""

    message_id: int
    position: int
    channel: str
    media: Media
    status: str
    error: str | None
    attempts: int

    @property
    def pending(self) -> bool:
        return self.status == PENDING


def reference(message_id: int | None, position: int, media: Media) -> dict[str, Any]:
    """What a request or complaint keeps of one attachment: enough to show it at once and to
    find the stored file later (`Attachments.resolve`)."""
    return {
        "content_type": media.content_type,
        "url": media.url,
        "filename": media.filename,
        "stored_path": media.stored_path,
        "message_id": message_id,
        "media_index": position,
    }


class Attachments:
    """The `message_media` rows; each operation is one transaction on a database thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, message_id: int, channel: str, media: Sequence[Media]
    ) -> list[Attachment]:
        """Write a row per attachment of an inbound message (again is harmless: the rows of a
        message are written once) and return the message's rows."""
        return await self.db.run(self._record, message_id, channel, list(media))

    def _record(self, message_id: int, channel: str, media: list[Media]) -> list[Attachment]:
        try:
            with self.db.sessions.begin() as session:
                known = set(
                    session.scalars(
                        select(MessageMedia.position).where(MessageMedia.message_id == message_id)
                    )
                )
                now = utcnow()
                session.add_all(
                    _row(message_id, position, channel, item, now)
                    for position, item in enumerate(media)
                    if position not in known
                )
        except IntegrityError:
            pass  # another copy of the message wrote them at the same moment
        return self._of_message(message_id)

    async def of_message(self, message_id: int) -> list[Attachment]:
        """The message's attachments in the order it carried them."""
        return await self.db.run(self._of_message, message_id)

    def _of_message(self, message_id: int) -> list[Attachment]:
        with self.db.sessions() as session:
            rows = session.scalars(
                select(MessageMedia)
                .where(MessageMedia.message_id == message_id)
                .order_by(MessageMedia.position)
            )
            return [_attachment(row) for row in rows]

    async def message_id_of(self, channel: str, provider_id: str) -> int | None:
        """The id of an inbound message already recorded (a provider's retry of it)."""
        return await self.db.run(self._message_id_of, channel, provider_id)

    def _message_id_of(self, channel: str, provider_id: str) -> int | None:
        with self.db.sessions() as session:
            found: int | None = session.scalar(
                select(Message.id).where(
                    Message.channel == channel,
                    Message.direction == "in",
                    Message.provider_id == provider_id,
                )
            )
            return found

    async def mark_stored(self, message_id: int, position: int, stored_path: str) -> None:
        """The file is in: on its row and in the message's own payload, in one transaction."""
        await self.db.run(self._mark_stored, message_id, position, stored_path)

    def _mark_stored(self, message_id: int, position: int, stored_path: str) -> None:
        with self.db.sessions.begin() as session:
            row = _one(session, message_id, position)
            row.stored_path, row.status, row.error = stored_path, STORED, None
            row.attempts += 1
            row.updated_at = utcnow()
            message = session.get(Message, message_id)
            payload = dict(message.payload or {}) if message is not None else {}
            media = [dict(item) for item in payload.get("media") or []]
            if message is not None and position < len(media):
                media[position]["stored_path"] = stored_path
                message.payload = {**payload, "media": media}  # a new object: saved

    async def mark_failed_attempt(
        self, message_id: int, position: int, error: str, *, final: bool
    ) -> None:
        """A download failed: the error is kept; after the last try the row says `failed`."""
        await self.db.run(self._mark_failed_attempt, message_id, position, error, final)

    def _mark_failed_attempt(self, message_id: int, position: int, error: str, final: bool) -> None:
        with self.db.sessions.begin() as session:
            row = _one(session, message_id, position)
            row.error = error[:MAX_ERROR]
            row.attempts += 1
            row.updated_at = utcnow()
            if final:
                row.status = FAILED

    async def resolve(self, kept: Mapping[str, Any]) -> Attachment | None:
        """The attachment a request or complaint keeps (see `reference`), with its stored file
        once the worker fetched it; None for an entry that names no message."""
        message_id, position = kept.get("message_id"), kept.get("media_index")
        if not isinstance(message_id, int) or not isinstance(position, int):
            return None
        rows = await self.of_message(message_id)
        return next((row for row in rows if row.position == position), None)


def _row(message_id: int, position: int, channel: str, media: Media, now: datetime) -> MessageMedia:
    if media.stored_path:
        status = STORED  # it came inside the message (email) and is kept already
    elif media.url:
        status = PENDING
    else:
        status = FAILED  # neither kept nor fetchable (an email attachment over the limit)
    return MessageMedia(
        message_id=message_id,
        position=position,
        channel=channel,
        content_type=media.content_type[:255],
        url=media.url,
        filename=media.filename,
        stored_path=media.stored_path,
        status=status,
        error=None if status != FAILED else "not kept when received",
        attempts=0,
        created_at=now,
        updated_at=now,
    )


def _one(session: Session, message_id: int, position: int) -> MessageMedia:
    row = session.scalar(
        select(MessageMedia).where(
            MessageMedia.message_id == message_id, MessageMedia.position == position
        )
    )
    if row is None:
        raise LookupError(f"message {message_id} has no attachment {position}")
    return row


def _attachment(row: MessageMedia) -> Attachment:
    return Attachment(
        message_id=row.message_id,
        position=row.position,
        channel=row.channel,
        media=Media(
            content_type=row.content_type,
            url=row.url,
            filename=row.filename,
            stored_path=row.stored_path,
        ),
        status=row.status,
        error=row.error,
        attempts=row.attempts,
    )
