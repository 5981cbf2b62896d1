"""Delivering one stored outbound message through its channel, and recording the outcome."""

from __future__ import annotations

import logging

from bot.models import DeliveryStatus
from channels.base import ContactStoppedError, PermanentSendError, RetryableSendError
from worker.context import WorkerContext

log = logging.getLogger(__name__)


async def deliver(context: WorkerContext, message_id: int, *, last_attempt: bool) -> str:
    """Send message `message_id` once. Retryable errors are re-raised (the queue retries)
    unless this was the last attempt, which leaves the message visibly failed."""
    deliveries = context.store.deliveries
    delivery = await deliveries.delivery(message_id)
    if delivery is None:
        return "missing"
    if delivery.status is not DeliveryStatus.QUEUED:
        return f"already {delivery.status}"  # jobs run at least once; never send twice
    channel = context.channels.get(delivery.channel)
    if channel is None:
        await deliveries.mark_attempt(message_id, DeliveryStatus.FAILED, error_code="channel-off")
        log.error("message %s: channel %s is off", message_id, delivery.channel)
        return "channel off"
    try:
        result = await channel.send(delivery.address_kind, delivery.address, delivery.message)
    except ContactStoppedError as exc:
        await deliveries.mark_attempt(
            message_id, DeliveryStatus.FAILED, error_code=exc.code or "stopped"
        )
        await deliveries.stop_address(message_id)
        return "contact stopped"
    except PermanentSendError as exc:
        await deliveries.mark_attempt(message_id, DeliveryStatus.FAILED, error_code=exc.code)
        log.warning("message %s failed permanently: %s", message_id, exc)
        return "failed"
    except RetryableSendError as exc:
        status = DeliveryStatus.FAILED if last_attempt else DeliveryStatus.QUEUED
        await deliveries.mark_attempt(message_id, status, error_code=exc.code or "retryable")
        log.warning("message %s: %s (last attempt: %s)", message_id, exc, last_attempt)
        if last_attempt:
            return "failed after retries"
        raise
    await deliveries.mark_attempt(message_id, DeliveryStatus.SENT, provider_id=result.provider_id)
    return "sent"
