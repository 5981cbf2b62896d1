"""An attachment a beneficiary sent, opened from the console by its row's id. The file's
place comes from the database (where the worker kept it), never from the request; its bytes
come from the media store (the local directory, or the object store, opened here with the
gateway's key) and are sent by this process: no public or presigned object URL is ever given
out. Each opening is audited: documents are personal data."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.crypto import DecryptionError
from bot.storage.audit import Subject

from .casework_common import int_id
from .context import audit, console

log = logging.getLogger(__name__)

# Shown in the browser; anything else is downloaded, never rendered as a page of ours.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"})


async def attachment(request: web.Request) -> web.StreamResponse:
    context = console(request)
    found = await context.store.casework_reads.attachment(int_id(request))
    if found is None or found.status != "stored" or not found.stored_path:
        raise web.HTTPNotFound()
    if context.media is None:
        raise web.HTTPNotFound()
    try:
        data = await context.media.read(found.stored_path)
    except DecryptionError as exc:  # another TAWASUL_SECRET_KEY sealed it, or it was altered
        log.error("attachment %s cannot be opened: %s", found.id, exc)
        raise web.HTTPNotFound() from exc
    except Exception as exc:  # the object store did not answer: a passing fault, not a 500
        log.error("attachment %s: the media store failed: %r", found.id, exc)
        raise web.HTTPServiceUnavailable() from exc
    if data is None:
        raise web.HTTPNotFound()
    await audit(
        request, "attachment.viewed", Subject("contact", found.contact_id), {"id": found.id}
    )
    inline = found.content_type in INLINE_TYPES
    disposition = "inline" if inline else f'attachment; filename="file-{found.id}"'
    return web.Response(
        body=data,
        headers={
            "Content-Type": found.content_type if inline else "application/octet-stream",
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def attachment_routes() -> list[web.RouteDef]:
    return [web.get("/attachments/{id}", attachment)]
