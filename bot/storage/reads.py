"""What a journey may read during a turn: lookups that answer the beneficiary now.

Everything a turn decides to write goes the other way, as effects saved with the turn
(bot/effects.py); this is the only part of storage a handler holds.
"""

from __future__ import annotations

from bot.crypto import Cipher
from bot.storage.contacts import Contacts, ContactSummary
from bot.storage.inbound import Inbound
from bot.storage.requests import Requests, RequestView


class Reads:
    def __init__(
        self, cipher: Cipher, inbound: Inbound, contacts: Contacts, requests: Requests
    ) -> None:
        self._cipher = cipher
        self._inbound = inbound
        self._contacts = contacts
        self._requests = requests

    def lookup_hash(self, text: str) -> str:
        """The keyed hash storage finds a value by, e.g. to compare a code without keeping it."""
        return self._cipher.lookup_hash(text)

    async def open_request(self, national_id: str) -> str | None:
        """The reference of this national ID's open request, if any."""
        return await self._requests.open_request(national_id)

    async def request(self, reference: str) -> RequestView | None:
        """A request by its reference as typed; None if there is no such request."""
        return await self._requests.request(reference)

    async def requests_of(self, contact_id: int) -> list[RequestView]:
        return await self._requests.requests_of(contact_id)

    async def identity_matches(
        self, reference: str, national_id: str, birth_date: str, birth_fields: list[str]
    ) -> bool:
        """Whether the request was filed with this national ID and date of birth (ISO)."""
        return await self._requests.identity_matches(
            reference, national_id, birth_date, birth_fields
        )

    async def summary(self, contact_id: int) -> ContactSummary:
        """What the association holds about the contact, for "privacy and my data"."""
        return await self._contacts.summary(contact_id)

    async def handoff_open(self, handoff_id: int) -> bool:
        """Whether staff still hold the conversation (asked on every message while they do)."""
        return await self._inbound.handoff_status(handoff_id) == "open"
