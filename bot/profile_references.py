"""The profile's cross-references: ids used twice, and domains named but never defined.

Checked on the raw YAML data (maybe invalid elsewhere), so that `load_profile` reports them
together with every other mistake; `Profile` runs them too, for profiles built in code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["SKIP_REFERENCE_CHECKS", "reference_errors"]

# The validation-context key with which `load_profile` tells `Profile` it checks them itself.
SKIP_REFERENCE_CHECKS = "skip_reference_checks"


def reference_errors(data: Any) -> list[str]:
    """Duplicate ids and references to undefined domains, checked on raw (maybe invalid) data."""
    errors: list[str] = []
    if not isinstance(data, dict):
        return errors

    def items(seq: Any, prefix: str) -> list[tuple[str, dict[str, Any]]]:
        if not isinstance(seq, list):
            return []
        return [(f"{prefix}[{i}]", x) for i, x in enumerate(seq) if isinstance(x, dict)]

    def unique(entries: Iterable[tuple[str, dict[str, Any]]], what: str) -> set[str]:
        seen: dict[str, str] = {}
        for where, item in entries:
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in seen:
                errors.append(f"{where}.id: {what} id {ident!r} is already used at {seen[ident]}")
            else:
                seen[ident] = where
        return set(seen)

    topics = items(data.get("faq"), "faq")
    faq_items = [(w, t) for w, t in topics]
    faq_items += [e for w, t in topics for e in items(t.get("entries"), f"{w}.entries")]
    unique(faq_items, "FAQ")
    form = data.get("support_form")
    unique(items(form.get("fields") if isinstance(form, dict) else None, "support_form.fields"),
           "field")  # fmt: skip
    unique(items(data.get("request_types"), "request_types"), "request type")
    categories = unique(
        items(data.get("complaint_categories"), "complaint_categories"), "complaint category"
    )
    sla = data.get("sla")
    own = sla.get("complaint_categories") if isinstance(sla, dict) else None
    for category in own if isinstance(own, dict) else {}:
        if category not in categories:
            errors.append(
                f"sla.complaint_categories.{category}: unknown complaint category; the "
                f"categories are: {', '.join(sorted(categories)) or 'none'}"
            )
    domains = unique(items(data.get("domains"), "domains"), "domain")
    if isinstance(data.get("domains"), list):
        known = ", ".join(sorted(domains)) or "none"
        for key in ("request_types", "complaint_categories"):
            for where, item in items(data.get(key), key):
                domain = item.get("domain")
                if isinstance(domain, str) and domain not in domains:
                    errors.append(
                        f"{where}.domain: unknown domain {domain!r}; the domains are: {known}"
                    )
        general = data.get("general_domain")
        if isinstance(general, str) and general not in domains:
            errors.append(f"general_domain: unknown domain {general!r}; the domains are: {known}")
    return errors
