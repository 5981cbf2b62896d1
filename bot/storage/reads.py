"""What a journey may read during a turn: lookups that answer the beneficiary now.

Everything a turn decides to write goes the other way, as effects saved with the turn
(bot/effects.py); this is the only part of storage a handler holds. What a lookup returns is
what the asker may be told: another contact's request reference never reaches a handler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.crypto import Cipher
from bot.storage.complaints import Complaints, ComplaintView
from bot.storage.contacts import Contacts, ContactSummary
from bot.storage.inbound import Inbound
from bot.storage.references import COMPLAINT_PREFIX, REQUEST_PREFIX, typed_reference
from bot.storage.requests import Requests, RequestView
from bot.text import normalize_digits

# The record's letter as typed before its digits: "C-482139075", "c 4821", "R482…".
_TYPED_LETTER = re.compile(r"([A-Za-z])\s*-?\s*\d")


@dataclass(frozen=True)
class OpenRequest:
    """An open request for a national ID, as the one asking may know it: its reference only
    when they filed it themselves (anyone else could be probing IDs to collect references)."""

    reference: str | None

    @property
    def mine(self) -> bool:
        return self.reference is not None


class Reads:
    def __init__(
        self,
        cipher: Cipher,
        inbound: Inbound,
        contacts: Contacts,
        requests: Requests,
        complaints: Complaints,
    ) -> None:
        self._cipher = cipher
        self._inbound = inbound
        self._contacts = contacts
        self._requests = requests
        self._complaints = complaints

    def lookup_hash(self, text: str) -> str:
        """The keyed hash storage finds a value by, e.g. to compare a code without keeping it."""
        return self._cipher.lookup_hash(text)

    async def open_request(self, national_id: str, contact_id: int) -> OpenRequest | None:
        """This national ID's open request, if any; its reference only for `contact_id`'s own."""
        reference = await self._requests.open_request(national_id)
        if reference is None:
            return None
        view = await self._requests.request(reference)
        mine = view is not None and view.contact_id == contact_id
        return OpenRequest(reference if mine else None)

    async def request(self, reference: str) -> RequestView | None:
        """A request by its reference as typed; None if there is no such request."""
        stored = typed_reference(REQUEST_PREFIX, reference)
        if stored is None or not await self._inbound.reference_known(REQUEST_PREFIX, stored):
            return None  # asked on the batched path: most typed digits name nothing
        return await self._requests.request(stored)

    async def record(self, typed: str) -> RequestView | ComplaintView | None:
        """The request or complaint a typed reference names: by its letter (R-, C-), or, when
        only digits were typed, whichever kind holds them (a request first)."""
        letter = _TYPED_LETTER.search(normalize_digits(typed))
        kind = letter.group(1).upper() if letter else None
        if kind in (None, REQUEST_PREFIX):
            view = await self.request(typed)
            if view is not None or kind is not None:
                return view
        if kind in (None, COMPLAINT_PREFIX):
            stored = typed_reference(COMPLAINT_PREFIX, typed)
            if stored is None or not await self._inbound.reference_known(COMPLAINT_PREFIX, stored):
                return None
            return await self._complaints.complaint(stored)
        return None

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
