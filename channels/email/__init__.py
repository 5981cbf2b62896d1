"""Email: IMAP in (aioimaplib), SMTP out (aiosmtplib), one thread per beneficiary.

One module per job: `parsing` (an RFC 822 message into the router's message and its thread),
`html_text` (HTML parts made text), `quotes` (quoted history and signatures stripped: the
router sees only what the beneficiary wrote this time), `imap` (the mailbox reader, one web
process at a time under a Redis leader lock), `threads` (the thread to answer in, remembered
per address), `smtp` (sending, typed errors), `settings` (SMTP_* and IMAP_*) and `channel`
(the class that ties them). No aioimaplib or aiosmtplib type leaves the package.
"""

from channels.email.channel import EmailChannel
from channels.email.html_text import html_to_text
from channels.email.parsing import IgnoredEmail, ParsedEmail, parse_email
from channels.email.quotes import strip_quoted
from channels.email.settings import EmailSettings

__all__ = [
    "EmailChannel",
    "EmailSettings",
    "IgnoredEmail",
    "ParsedEmail",
    "html_to_text",
    "parse_email",
    "strip_quoted",
]
