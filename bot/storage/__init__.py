"""Storage by kind of record, each a small class given the `Database` (and `Cipher`) it needs.

`Store` only holds them, so the router, the worker and the staff console share one set:
`inbound` (record a message, read state, save a turn with all it decided, whose effects each
kind's module applies: bot/storage/turn_effects.py), `deliveries` (outbound rows, attempts,
statuses, the sweep), `contacts`, `requests`, `handoffs`, `consent`, and `reads` (what a
journey may look up), `audit` (staff actions, for the console), and for the console's work
pages `casework` (what staff do to hand-offs, conversations and requests), `casework_reads`
(inbox, timeline), `request_cases`, `complaint_cases` and `contact_cases`; `unanswered` and
`faq_additions` for the FAQ that learns from staff; `reports` (the manager's).
"""

from __future__ import annotations

from sqlalchemy import text

from bot.crypto import Cipher
from bot.db import Database
from bot.storage.audit import AuditLog
from bot.storage.casework import Casework
from bot.storage.casework_reads import CaseworkReads
from bot.storage.complaint_cases import ComplaintCases
from bot.storage.complaints import Complaints
from bot.storage.consent import ConsentRecords
from bot.storage.contact_cases import ContactCases
from bot.storage.contacts import Contacts
from bot.storage.deliveries import Deliveries, Delivery
from bot.storage.faq_additions import FaqAdditions
from bot.storage.handoffs import Handoffs
from bot.storage.inbound import Inbound, TurnConflict
from bot.storage.inbound_rows import InboundRecord, state_version
from bot.storage.reads import Reads
from bot.storage.reports import Reports
from bot.storage.request_cases import RequestCases
from bot.storage.requests import Requests
from bot.storage.sla import SlaStore
from bot.storage.staff_notifications import StaffNotifications
from bot.storage.survey_follow_ups import SurveyFollowUps
from bot.storage.surveys import Surveys
from bot.storage.unanswered import UnansweredQuestions

__all__ = ["Delivery", "InboundRecord", "Store", "TurnConflict", "state_version"]


class Store:
    """The storage parts of one process, built once from its database and cipher."""

    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db = db
        self.cipher = cipher
        self.inbound = Inbound(db, cipher)
        self.deliveries = Deliveries(db)
        self.contacts = Contacts(db)
        self.requests = Requests(db, cipher)
        self.handoffs = Handoffs(db)
        self.consent = ConsentRecords(db)
        self.complaints = Complaints(db)
        self.audit = AuditLog(db)
        self.casework = Casework(db)  # the console's writes
        self.casework_reads = CaseworkReads(db)  # and its reads
        self.complaint_cases = ComplaintCases(db)
        self.contact_cases = ContactCases(db)
        self.request_cases = RequestCases(db)
        self.unanswered = UnansweredQuestions(db)  # the FAQ's unanswered questions
        self.faq_additions = FaqAdditions(db)  # and what staff taught it
        self.reports = Reports(db)  # the manager's reports
        self.sla = SlaStore(db)  # deadlines' alerts (issue 15)
        self.staff_notifications = StaffNotifications(db)
        self.surveys = Surveys(db)  # satisfaction surveys (issue 15)
        self.survey_follow_ups = SurveyFollowUps(db)
        self.reads = Reads(cipher, self.inbound, self.contacts, self.requests, self.complaints)

    async def ping(self) -> None:
        await self.db.run(self._ping)

    def _ping(self) -> None:
        with self.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
