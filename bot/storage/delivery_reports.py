"""A provider's status report applied to the message (or part) it is about.

The report names its message by our own id when the send carried it (Twilio's callback URL,
Meta's biz_opaque_callback_data), else by the provider's id, of the message or of one of its
parts. Statuses only move forward. A report settles a send in doubt (`sending`, `unknown`):
even the provider's "queued" says it holds the message, which is all `sent` means here. A
report about an earlier attempt (the message was sent again since, under another provider
id, or waits in our queue to be) changes nothing. A message sent as several parts shows the
least advanced of them, or failed when one failed. When its send stopped in doubt at one
part (`unknown`), the parts after it never went: the report that settles that part as
taken puts the message back in the queue, and the worker sends only what follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.models import IN_FLIGHT_STATUSES, DeliveryStatus, SendFailure, StatusUpdate, utcnow
from bot.tables import ContactAddress, Message
from bot.tables_outbound import MessagePart


class _Tracked(Protocol):
    status: str
    error_code: str | None
    provider_id: str | None


def find(session: Session, report: StatusUpdate) -> tuple[Message, int | None] | None:
    """The message a report is about, and its part (None: a message sent as one)."""
    ref = report.reference
    if ref is not None:
        message = session.scalar(
            select(Message).where(
                Message.id == ref.message_id,
                Message.channel == report.channel,
                Message.direction == "out",
            )
        )
        if message is not None:
            split = ref.part > 0 or _has_parts(session, message.id)
            return message, (ref.part if split else None)
    part = session.scalar(
        select(MessagePart).where(
            MessagePart.channel == report.channel, MessagePart.provider_id == report.provider_id
        )
    )
    if part is not None:
        owner = session.get(Message, part.message_id)
        return (owner, part.part) if owner is not None else None
    message = session.scalar(
        select(Message).where(
            Message.channel == report.channel,
            Message.direction == "out",
            Message.provider_id == report.provider_id,
        )
    )
    return (message, None) if message is not None else None


@dataclass(frozen=True)
class Applied:
    known: bool  # the report names a message of ours
    resume: int | None = None  # a split message to send on from the part the report settled


def apply(session: Session, report: StatusUpdate) -> Applied:
    """Apply the report (see the module's docstring)."""
    found = find(session, report)
    if found is None:
        return Applied(known=False)
    message, part = found
    if DeliveryStatus(message.status) is DeliveryStatus.QUEUED:
        # It waits to go again: a report of an earlier attempt changes nothing, except on
        # a part that went (a retry sends only the parts after it).
        if part is not None:
            row = _existing_part(session, message.id, part)
            if row is not None and row.provider_id == report.provider_id:
                _advance(row, report)
                row.updated_at = report.at
        return Applied(known=True)
    resume: int | None = None
    if part is None:
        if message.provider_id not in (None, report.provider_id):
            return Applied(known=True)  # an earlier attempt's: the message went again since
        message.provider_id = report.provider_id
        _advance(message, report)
    else:
        row = _part(session, message, part, report.provider_id)
        if row.provider_id not in (None, report.provider_id):
            return Applied(known=True)
        was = DeliveryStatus(row.status)
        row.provider_id = report.provider_id
        _advance(row, report)
        row.updated_at = report.at
        if _send_goes_on(session, message, part, was, DeliveryStatus(row.status)):
            message.status, message.error_code = DeliveryStatus.QUEUED.value, None
            resume = message.id
        elif DeliveryStatus(message.status) is not DeliveryStatus.SENDING:
            sum_up(session, message)  # a send still under way is summed up by its worker
    message.updated_at = report.at
    if report.status is DeliveryStatus.FAILED and report.failure is SendFailure.STOPPED:
        # The recipient opted out at the provider (Twilio 21610): as if the send said so.
        session.execute(
            update(ContactAddress)
            .where(ContactAddress.id == message.address_id, ContactAddress.stopped_at.is_(None))
            .values(stopped_at=utcnow())
        )
    return Applied(known=True, resume=resume)


def _send_goes_on(
    session: Session, message: Message, part: int, was: DeliveryStatus, now: DeliveryStatus
) -> bool:
    """Whether this report settled, as taken by the provider, the part where the message's
    send stopped in doubt (the last part its worker recorded), every part before it taken
    too: the parts after it never went."""
    if DeliveryStatus(message.status) is not DeliveryStatus.UNKNOWN:
        return False
    if was is not DeliveryStatus.UNKNOWN or not _taken(now):
        return False
    statuses = dict(
        session.execute(
            select(MessagePart.part, MessagePart.status).where(MessagePart.message_id == message.id)
        ).all()
    )
    return max(statuses) == part and all(
        statuses.get(index) not in (None, *_NOT_TAKEN) for index in range(part)
    )


_NOT_TAKEN = (DeliveryStatus.FAILED.value, DeliveryStatus.UNKNOWN.value)


def record_parts(
    session: Session,
    message_id: int,
    channel: str,
    ids: Sequence[str],
    stopped: DeliveryStatus | None = None,
    error_code: str | None = None,
) -> bool:
    """The worker's record of a message that went as several parts: each part's provider
    id (a part already reported keeps its status), then the message's sum. `stopped` is
    the status of the part after them when the send stopped there: queued (it is tried
    again from that part), failed or unknown (kept on that part's row, so the message
    sums up as what became of its weakest part).

    Returns True when the send goes on: it stopped in doubt at a part whose report came
    first (a provider calls back within milliseconds) and says the provider took it. The
    message is then queued again, for the parts after it; the caller queues its delivery."""
    message = session.get(Message, message_id)
    if message is None:
        return False
    earlier_taken = True
    for index, provider_id in enumerate(ids):
        row = _part(session, message, index, provider_id)
        row.provider_id = row.provider_id or provider_id
        earlier_taken = earlier_taken and row.status not in _NOT_TAKEN
    if stopped is DeliveryStatus.QUEUED:
        session.flush()
        return False  # not sent whole: it goes on from the next part
    if stopped is not None:
        at = _existing_part(session, message.id, len(ids))
        if at is not None and at.provider_id is not None:
            # Reported already: the report knows more than the worker's doubt.
            reported = DeliveryStatus(at.status)
            if stopped is DeliveryStatus.UNKNOWN and earlier_taken and _taken(reported):
                message.status, message.error_code = DeliveryStatus.QUEUED.value, None
                session.flush()
                return True
        else:
            row = _part(session, message, len(ids), None)
            row.status, row.error_code = stopped.value, error_code
    session.flush()
    if DeliveryStatus(message.status) not in IN_FLIGHT_STATUSES:
        sum_up(session, message)
    return False


def _taken(status: DeliveryStatus) -> bool:
    """Whether a part's report says the provider holds it (queued there, sent, delivered)."""
    return status.rank >= DeliveryStatus.SENT.rank and status is not DeliveryStatus.FAILED


def sent_parts(session: Session, message_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The provider ids of the parts an earlier attempt sent, for each message that has
    any: part 0 onwards, up to the first that did not go."""
    rows = session.execute(
        select(
            MessagePart.message_id, MessagePart.part, MessagePart.provider_id, MessagePart.status
        )
        .where(MessagePart.message_id.in_(list(message_ids)))
        .order_by(MessagePart.message_id, MessagePart.part)
    ).all()
    found: dict[int, list[str]] = {}
    for message_id, part, provider_id, status in rows:
        sent = found.setdefault(message_id, [])
        if part == len(sent) and provider_id and status != DeliveryStatus.FAILED.value:
            sent.append(provider_id)
    return {message_id: tuple(ids) for message_id, ids in found.items() if ids}


def least_advanced(statuses: Sequence[DeliveryStatus]) -> DeliveryStatus:
    """A split message's status: failed when a part failed, else its least advanced part."""
    if DeliveryStatus.FAILED in statuses:
        return DeliveryStatus.FAILED
    return min(statuses, key=lambda status: status.rank)


def sum_up(session: Session, message: Message) -> None:
    statuses = [
        DeliveryStatus(value)
        for value in session.scalars(
            select(MessagePart.status).where(MessagePart.message_id == message.id)
        )
    ]
    if statuses:
        message.status = least_advanced(statuses).value
        codes = session.scalars(
            select(MessagePart.error_code).where(
                MessagePart.message_id == message.id, MessagePart.error_code.is_not(None)
            )
        ).first()
        message.error_code = codes


def _advance(row: _Tracked, report: StatusUpdate) -> None:
    current = DeliveryStatus(row.status)
    status = report.status
    if status.rank < DeliveryStatus.SENT.rank:
        if current not in IN_FLIGHT_STATUSES:
            return  # "queued" at the provider says nothing new about a message it took
        status = DeliveryStatus.SENT
    if status.rank >= current.rank:
        row.status = status.value
        row.error_code = report.error_code


def _has_parts(session: Session, message_id: int) -> bool:
    count = session.scalar(
        select(func.count(MessagePart.id)).where(MessagePart.message_id == message_id)
    )
    return bool(count)


def _existing_part(session: Session, message_id: int, part: int) -> MessagePart | None:
    return session.scalar(
        select(MessagePart).where(MessagePart.message_id == message_id, MessagePart.part == part)
    )


def _part(session: Session, message: Message, part: int, provider_id: str | None) -> MessagePart:
    """A part's row, made when its report (or its worker's record) comes first."""
    row = _existing_part(session, message.id, part)
    if row is None:
        status = DeliveryStatus.SENT.value
        row = MessagePart(
            message_id=message.id,
            part=part,
            channel=message.channel,
            provider_id=provider_id,
            status=status,
            updated_at=utcnow(),
        )
        session.add(row)
        session.flush()
    return row
