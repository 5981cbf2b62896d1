"""The email channel: ties the mailbox reader, thread memory and SMTP sender together.

Inbound, `poll` runs the IMAP reader (channels/email/imap.py), which hands each parsed email
back here to store its attachments and remember its thread before the router sees it.
Outbound, each reply goes from `SMTP_FROM` as text/plain UTF-8 (menus as numbered lists),
answering the beneficiary's last email (channels/email/threads.py); without a thread the
subject is the association's name in Arabic and English.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import ClassVar

from bot.models import AddressKind, InboundMessage, Media, MessageRef, OutboundMessage
from channels.base import Capabilities, Channel, PermanentSendError, SendResult
from channels.context import ChannelContext
from channels.email.imap import Deliver, MailboxReader
from channels.email.parsing import ADDRESS, ParsedEmail
from channels.email.settings import EmailSettings
from channels.email.smtp import SmtpSender
from channels.email.threads import Thread, ThreadMemory
from channels.render import numbered_text

log = logging.getLogger(__name__)


class EmailChannel(Channel):
    name: ClassVar[str] = "email"
    address_kinds = (AddressKind.EMAIL,)
    capabilities = Capabilities(buttons=False, max_text_length=100_000)
    settings_class = EmailSettings

    def __init__(self, context: ChannelContext, settings: EmailSettings) -> None:
        self.context = context
        self.settings = settings
        display, address = parseaddr(settings.smtp_from or "")
        if not ADDRESS.fullmatch(address):
            raise ValueError(f"SMTP_FROM must be an email address (got {settings.smtp_from!r})")
        self._from_address = address.lower()
        self._domain = address.rsplit("@", 1)[1]
        short = context.profile.short_name
        self._from = Address(display_name=display or f"{short.ar} | {short.en}", addr_spec=address)
        name = context.profile.name
        self._default_subject = f"{name.ar} | {name.en}"
        self._threads = ThreadMemory(context.redis, context.cipher)
        self._smtp = SmtpSender(settings, self._from_address)
        self._reader = MailboxReader(
            settings, context.redis, context.cipher, self._from_address, self._prepare
        )

    async def close(self) -> None:
        await self._smtp.close()

    # -- inbound ------------------------------------------------------------------------------
    async def poll(self, deliver: Deliver) -> None:
        """Watch the mailbox until cancelled; every failure is logged and retried."""
        await self._reader.poll(deliver)

    async def _prepare(self, parsed: ParsedEmail) -> InboundMessage:
        """The router's message, its attachments stored and its thread remembered first."""
        message = await self._with_media(parsed)
        await self._threads.remember(parsed)
        return message

    async def _with_media(self, parsed: ParsedEmail) -> InboundMessage:
        media: list[Media] = []
        for attachment in parsed.attachments:
            try:
                stored = await self.context.media.save(
                    attachment.data, attachment.content_type, attachment.filename
                )
            except (ValueError, OSError) as exc:
                log.warning("email: attachment not stored (%s)", exc)
                stored = Media(content_type=attachment.content_type, filename=attachment.filename)
            media.append(stored)
        return replace(parsed.message, media=tuple(media))

    # -- outbound -----------------------------------------------------------------------------
    async def send(
        self,
        kind: AddressKind,
        address: str,
        message: OutboundMessage,
        *,
        reference: MessageRef | None = None,
        already_sent: tuple[str, ...] = (),  # sent as one part: never partly sent
    ) -> SendResult:
        if kind is not AddressKind.EMAIL:
            raise PermanentSendError(f"email cannot reach a {kind} address", code="bad-address")
        if len(address) > 254 or not ADDRESS.fullmatch(address):
            raise PermanentSendError("not an email address", code="bad-address")
        mail, message_id = self._compose(address, message, await self._threads.recall(address))
        await self._smtp.send(mail, address)
        return SendResult(provider_id=message_id)

    def _compose(
        self, address: str, message: OutboundMessage, thread: Thread | None
    ) -> tuple[EmailMessage, str]:
        message_id = make_msgid(domain=self._domain)
        mail = EmailMessage()
        try:
            mail["From"] = self._from
            mail["To"] = address
        except (ValueError, TypeError, IndexError) as exc:
            raise PermanentSendError("not an email address", code="bad-address") from exc
        subject = thread.reply_subject() if thread is not None else None
        mail["Subject"] = subject or self._default_subject
        mail["Date"] = format_datetime(datetime.now(UTC))
        mail["Message-ID"] = message_id
        if thread is not None and thread.message_id:
            mail["In-Reply-To"] = thread.message_id
        if thread is not None and thread.references:
            mail["References"] = " ".join(thread.references)
        body = numbered_text(message)
        links = [media.url for media in message.media if media.url]
        if links:
            body += "\n\n" + "\n".join(links)
        mail.set_content(body, charset="utf-8")
        return mail, message_id
