"""An attachment a beneficiary sent, opened from the console by its row's id. The file's
place comes from the database (where the worker kept it), never from the request, and each
opening is audited: documents are personal data."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.storage.audit import Subject

from .casework_common import int_id
from .context import audit, console

# Shown in the browser; anything else is downloaded, never rendered as a page of ours.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"})


async def attachment(request: web.Request) -> web.StreamResponse:
    found = await console(request).store.casework_reads.attachment(int_id(request))
    if found is None or found.status != "stored" or not found.stored_path:
        raise web.HTTPNotFound()
    path = Path(found.stored_path)
    if not await asyncio.to_thread(path.is_file):
        raise web.HTTPNotFound()
    await audit(
        request, "attachment.viewed", Subject("contact", found.contact_id), {"id": found.id}
    )
    inline = found.content_type in INLINE_TYPES
    disposition = "inline" if inline else f'attachment; filename="file-{found.id}"'
    return web.FileResponse(
        path,
        headers={
            "Content-Type": found.content_type if inline else "application/octet-stream",
            "Content-Disposition": disposition,
            "Cache-Control": "no-store",
        },
    )


def attachment_routes() -> list[web.RouteDef]:
    return [web.get("/attachments/{id}", attachment)]
