"""The terminal channel behind `tawasul chat`: talk to the bot as a beneficiary.

Replies are printed by the same process, so its outbox delivers inline instead of through the
worker; the stored records are the same as on any other channel.
"""

from __future__ import annotations

import getpass
import itertools
import uuid
from typing import ClassVar, TextIO

from bot.models import AddressKind, InboundMessage, MessageRef, OutboundMessage
from channels.base import Capabilities, Channel, SendResult
from channels.render import numbered_text


class TerminalChannel(Channel):
    name: ClassVar[str] = "terminal"
    address_kinds = (AddressKind.TERMINAL,)
    capabilities = Capabilities(buttons=False, max_text_length=100_000)

    def __init__(self, output: TextIO, address: str | None = None) -> None:
        self.output = output
        self.address = address or f"{getpass.getuser()}@terminal"
        self._ids = itertools.count(1)
        # Sent messages are numbered per process; the prefix keeps two chats on one database
        # (or one after another) from giving two messages the same provider id.
        self._sent_prefix = f"terminal-{uuid.uuid4().hex[:12]}"

    def inbound(self, text: str, session: str) -> InboundMessage:
        """A typed line as an inbound message; ids are unique per chat session."""
        return InboundMessage(
            channel=self.name,
            address_kind=AddressKind.TERMINAL,
            address=self.address,
            provider_id=f"{session}-{next(self._ids)}",
            text=text.strip(),
        )

    async def send(
        self,
        kind: AddressKind,
        address: str,
        message: OutboundMessage,
        *,
        reference: MessageRef | None = None,
        already_sent: tuple[str, ...] = (),  # sent as one part: never partly sent
    ) -> SendResult:
        self.output.write(numbered_text(message) + "\n\n")
        self.output.flush()
        return SendResult(provider_id=f"{self._sent_prefix}-{next(self._ids)}")
