"""WhatsApp through Meta's Cloud API: the Graph API over one shared aiohttp ClientSession.

Why no SDK. pywa (4.5, the best kept Python client) was checked: it depends on httpx for its
HTTP calls and brings its own webhook server integrations (Flask, FastAPI/Starlette), its own
update types and handler dispatch. Here the web server is aiohttp, the pipeline (verify → parse
→ route → acknowledge) is ours, and provider types must not leak out of `channels/`; using
pywa would mean a second HTTP client stack beside aiohttp and translating its types back into
ours. What we need from the Graph API is small and stable: one endpoint to send
(`POST /{phone-number-id}/messages`), two GETs to fetch media, an HMAC check and the
verification handshake. So this package speaks the Graph API directly, over one
`aiohttp.ClientSession` opened in `start()` and shared by every send and download.

One module per job, as courier's handlers are cut: `settings` (WHATSAPP_*), `limits` (what
the Graph API accepts, and our timeouts), `json_fields` (reading Meta's JSON, a ValueError for
anything malformed), `inbound` (the signature check and the webhook's messages), `statuses`
(delivery reports), `outbound` (an OutboundMessage as Graph API message objects), `send` (one
POST to the messages endpoint), `errors` (Meta's error codes as the worker's typed send errors),
`media` (downloading media by id, in the worker) and `channel` (the class that ties them).

Outside the 24-hour customer-service window Meta answers 131047 ("Re-engagement message"):
the message is replaced by the profile's `reply_waiting` template (or the first template with
a `meta_name`), with the association's name as its one body parameter, so the beneficiary is
told a reply is waiting; without such a template the send fails permanently. That rule (the
codes, the template's choice) is bot/whatsapp_window.py's, shared with Twilio and the router.
"""

from channels.whatsapp.channel import WhatsAppCloudChannel
from channels.whatsapp.errors import WindowClosedError
from channels.whatsapp.inbound import WEBHOOK_PATH, signature
from channels.whatsapp.outbound import LIST_BUTTON_LABEL, render, template_payload
from channels.whatsapp.settings import WhatsAppSettings

__all__ = [
    "LIST_BUTTON_LABEL",
    "WEBHOOK_PATH",
    "WhatsAppCloudChannel",
    "WhatsAppSettings",
    "WindowClosedError",
    "render",
    "signature",
    "template_payload",
]
