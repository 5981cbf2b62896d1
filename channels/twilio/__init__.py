"""SMS and WhatsApp through Twilio: signed form webhooks in, the official client out.

Inbound, Twilio posts `application/x-www-form-urlencoded` webhooks to `/webhooks/twilio`
(messages) and `/webhooks/twilio/status` (delivery reports), signed in `X-Twilio-Signature`
with the auth token over the exact public URL it called and the sorted fields; the signature
is checked with the library's own `RequestValidator`, so a forged request never reaches parse.
WhatsApp addresses come as `whatsapp:+9665…`, SMS ones as `+9665…`; both become E.164 addresses
of their kind, so one phone on both is one contact (storage joins them).

Outbound goes through `twilio.rest.Client` with its asynchronous HTTP client, on the channel's
one aiohttp session (also used for media downloads), so no send blocks the event loop. Errors
are typed for the worker: 5xx, timeouts and connection errors are retried, 429 slows down,
21610 stops the address, 63016 (a WhatsApp conversation whose 24-hour window has closed) is
answered with the profile's approved template, anything else fails for good. Which codes mean
a closed window, and which template replaces free text, is bot/whatsapp_window.py's rule.

One module per job, as courier's handlers are cut: `settings` (TWILIO_*), `inbound` (the
signature check and message webhooks), `statuses` (delivery reports), `outbound` (a message as
Messages API requests), `send` (one request through the client), `errors` (Twilio's error
codes as the worker's typed send errors), `media` (downloading MediaUrls, in the worker) and
`channel` (the class that ties them).
"""

from channels.twilio.channel import TwilioChannel
from channels.twilio.inbound import EMPTY_TWIML, INBOUND_PATH, STATUS_PATH
from channels.twilio.outbound import MAX_BODY
from channels.twilio.settings import TwilioSettings

__all__ = [
    "EMPTY_TWIML",
    "INBOUND_PATH",
    "MAX_BODY",
    "STATUS_PATH",
    "TwilioChannel",
    "TwilioSettings",
]
