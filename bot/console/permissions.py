"""Who may use which console route: the one table, checked on every request by bot.console.guard.

Each entry is (method, route path as registered) -> the roles that may use it. ``ANONYMOUS``
stands for someone not signed in. A console route missing from this table is refused to
everyone (403), and tests/test_console_access.py walks every registered route with every
role against this table, so a new page needs its line here before it can be reached.

HEAD is checked as GET (aiohttp answers HEAD on every GET route).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.users import ROLES

ANONYMOUS = "anonymous"

EVERYONE = frozenset({ANONYMOUS, *ROLES})
STAFF = frozenset(ROLES)
# Who works with beneficiaries' conversations and hand-offs.
CASEWORK = frozenset({"officer", "researcher", "quality", "manager", "admin"})
# Support requests are studied by social researchers; the quality officer is not needed there.
REQUESTS = frozenset({"officer", "researcher", "manager", "admin"})
# Complaints go to beneficiary relations and the quality officer.
COMPLAINTS = frozenset({"officer", "quality", "manager", "admin"})
# The contact card shows personal data: only those who serve the beneficiary directly.
CONTACTS = frozenset({"officer", "researcher", "manager", "admin"})
# Merging contacts and the data requests of the privacy policy: beneficiary relations.
CONTACT_CHANGES = frozenset({"officer", "manager", "admin"})
# Teaching the FAQ from the questions the bot could not answer.
FAQ_EDITORS = frozenset({"officer", "quality", "manager", "admin"})
MANAGEMENT = frozenset({"manager", "admin"})
# The follow-ups of low satisfaction ratings: the quality officer's (and management's).
QUALITY = frozenset({"quality", "manager", "admin"})
ADMIN = frozenset({"admin"})

ROUTE_ROLES: Mapping[tuple[str, str], frozenset[str]] = {
    ("GET", "/console/login"): EVERYONE,
    ("POST", "/console/login"): EVERYONE,
    ("GET", "/console/static"): EVERYONE,  # the style sheet, also for the sign-in page
    ("POST", "/console/logout"): STAFF,
    ("POST", "/console/language"): STAFF,
    ("GET", "/console/"): STAFF,  # the inbox
    ("GET", "/console/inbox/items"): STAFF,  # the inbox's rows, for its script
    ("POST", "/console/handoffs/{id}/claim"): CASEWORK,
    ("POST", "/console/handoffs/{id}/assign"): CASEWORK,
    ("POST", "/console/handoffs/{id}/close"): CASEWORK,
    ("GET", "/console/conversations/{id}"): CASEWORK,
    ("POST", "/console/conversations/{id}/reply"): CASEWORK,
    ("POST", "/console/conversations/{id}/notes"): CASEWORK,
    ("GET", "/console/attachments/{id}"): CONTACTS,  # documents are personal data
    ("GET", "/console/requests"): REQUESTS,
    ("GET", "/console/requests/{reference}"): REQUESTS,
    ("POST", "/console/requests/{reference}/status"): frozenset({"researcher", "manager", "admin"}),
    ("POST", "/console/requests/{reference}/claim"): REQUESTS,
    ("POST", "/console/requests/{reference}/assign"): REQUESTS,
    ("GET", "/console/complaints"): COMPLAINTS,
    ("GET", "/console/complaints/{reference}"): COMPLAINTS,
    ("POST", "/console/complaints/{reference}/close"): COMPLAINTS,
    ("POST", "/console/follow-ups/{id}/close"): QUALITY,
    ("POST", "/console/complaints/{reference}/claim"): COMPLAINTS,
    ("POST", "/console/complaints/{reference}/assign"): COMPLAINTS,
    ("GET", "/console/contacts"): CONTACTS,
    ("GET", "/console/contacts/{id}"): CONTACTS,
    ("GET", "/console/contacts/{id}/export"): CONTACT_CHANGES,
    ("POST", "/console/contacts/{id}/merge"): CONTACT_CHANGES,
    ("POST", "/console/contacts/{id}/erase"): CONTACT_CHANGES,
    ("GET", "/console/questions"): FAQ_EDITORS,
    ("POST", "/console/questions/{key}/attach"): FAQ_EDITORS,
    ("POST", "/console/questions/{key}/entry"): FAQ_EDITORS,
    ("POST", "/console/questions/{key}/dismiss"): FAQ_EDITORS,
    ("GET", "/console/broadcasts"): MANAGEMENT,
    ("POST", "/console/broadcasts"): MANAGEMENT,  # count, review, send
    ("POST", "/console/broadcasts/count"): MANAGEMENT,  # the live count, for its script
    ("GET", "/console/broadcasts/progress"): MANAGEMENT,  # the list's rows, for its script
    ("POST", "/console/broadcasts/{id}/cancel"): MANAGEMENT,
    ("GET", "/console/reports"): MANAGEMENT,
    # The reports' tables as CSV (bot/console/reports_pages.py TABLES), one line each.
    ("GET", "/console/reports/messages.csv"): MANAGEMENT,
    ("GET", "/console/reports/requests.csv"): MANAGEMENT,
    ("GET", "/console/reports/complaints.csv"): MANAGEMENT,
    ("GET", "/console/reports/satisfaction.csv"): MANAGEMENT,
    ("GET", "/console/reports/surveys.csv"): MANAGEMENT,
    ("GET", "/console/reports/handoffs.csv"): MANAGEMENT,
    ("GET", "/console/reports/unanswered.csv"): MANAGEMENT,
    ("GET", "/console/users"): ADMIN,
    ("POST", "/console/users"): ADMIN,
    ("POST", "/console/users/{id}"): ADMIN,
    ("GET", "/console/audit"): ADMIN,
}


def allowed_roles(method: str, path: str) -> frozenset[str]:
    """The roles that may use a route; empty (nobody) for a route without an entry."""
    method = "GET" if method == "HEAD" else method
    return ROUTE_ROLES.get((method, path), frozenset())


def may(role: str, method: str, path: str) -> bool:
    """Whether `role` may use the route; also what the layout asks to show a link or not."""
    return role in allowed_roles(method, path)
