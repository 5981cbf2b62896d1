"""Fetching the attachments of a recorded message, after the provider had its answer.

The web process records the message with its media references and queues one fetch job per
message (`MediaFetches.queue_fetch`); the worker downloads each pending file through its
channel's `fetch_media`, with retries and backoff as for deliveries, and writes where it is
(bot/storage/attachments.py). After the last try a file that could not be fetched is marked failed,
with the error; the message itself never depended on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from rq import Queue, Retry
from rq.job import Job

from bot.media import MediaTooLargeError
from bot.storage.attachments import Attachment, Attachments
from channels.base import PermanentMediaError
from worker import defaults
from worker.context import WorkerContext

log = logging.getLogger(__name__)

# Seconds between tries. Meta keeps a media id for 30 days and Twilio its media until
# deleted; Telegram's file ids last. So the schedule can be patient.
FETCH_RETRY_INTERVALS = (10, 60, 300, 1800)
# Twilio allows ten attachments per message, each download may take up to 120 s.
FETCH_JOB_TIMEOUT_SECONDS = 1800


def fetch_job_id(queue_name: str, message_id: int) -> str:
    """One fetch job per message (job ids are global in Redis, so the queue is in it)."""
    return f"{queue_name}-media-{message_id}"


class MediaFetches:
    """The web process's side: queue a message's fetch through RQ, off the event loop."""

    def __init__(self, queue: Queue, retry_intervals: Sequence[int] = FETCH_RETRY_INTERVALS):
        self.queue = queue
        self.retry = Retry(max=len(retry_intervals), interval=list(retry_intervals))

    async def queue_fetch(self, message_id: int) -> None:
        """Queue the fetch of the message's pending attachments (once: a provider's retry of
        the same message finds the job there)."""
        await asyncio.to_thread(self._enqueue, message_id)

    def _enqueue(self, message_id: int) -> None:
        job_id = fetch_job_id(self.queue.name, message_id)
        if Job.exists(job_id, connection=self.queue.connection):
            return
        self.queue.enqueue(
            "worker.jobs.fetch_media",
            args=(message_id,),
            job_id=job_id,
            retry=self.retry,
            job_timeout=FETCH_JOB_TIMEOUT_SECONDS,
            result_ttl=defaults.RESULT_TTL_SECONDS,
            failure_ttl=defaults.FAILURE_TTL_SECONDS,
            description=f"fetch the media of message {message_id}",
        )


class MediaNotFetchedError(Exception):
    """Some attachment could not be fetched this time; rq tries the job again later."""


async def fetch_media(context: WorkerContext, message_id: int, *, last_attempt: bool) -> str:
    """Fetch every pending attachment of message `message_id`. Raises MediaNotFetchedError
    when one may succeed on a later try, unless this was the last one (then it is failed)."""
    attachments = Attachments(context.store.db)
    pending = [item for item in await attachments.of_message(message_id) if item.pending]
    if not pending:
        return "nothing to fetch"
    retry = 0
    for item in pending:
        if not await _fetch_one(context, attachments, item, last_attempt=last_attempt):
            retry += 1
    if retry:
        raise MediaNotFetchedError(f"message {message_id}: {retry} attachment(s) to try again")
    return f"{len(pending)} attachment(s) done"


async def _fetch_one(
    context: WorkerContext, attachments: Attachments, item: Attachment, *, last_attempt: bool
) -> bool:
    """Fetch one attachment; False when it failed and another try may help."""
    message_id, position = item.message_id, item.position
    channel = context.channels.get(item.channel)
    if channel is None:
        await attachments.mark_failed_attempt(
            message_id, position, f"channel {item.channel} is off", final=last_attempt
        )
        return last_attempt  # the channel may be turned on again
    try:
        stored = await channel.fetch_media(item.media)
        if not stored.stored_path:
            raise PermanentMediaError(f"{item.channel} cannot fetch this reference")
    except (PermanentMediaError, MediaTooLargeError) as exc:
        await attachments.mark_failed_attempt(message_id, position, str(exc), final=True)
        log.warning("media %s/%s failed for good: %s", message_id, position, exc)
        return True
    except Exception as exc:  # a provider's error, a timeout, a full disk: try again later
        await attachments.mark_failed_attempt(
            message_id, position, str(exc) or type(exc).__name__, final=last_attempt
        )
        log.warning(
            "media %s/%s not fetched (last try: %s): %s", message_id, position, last_attempt, exc
        )
        return last_attempt
    await attachments.mark_stored(message_id, position, stored.stored_path)
    return True
