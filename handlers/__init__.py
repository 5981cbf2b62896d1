"""Beneficiary journeys, one module each; `handlers.wiring.build_dispatcher` wires them.

Kept empty on purpose: importing one journey (or `handlers.base`) loads only what it needs.
"""
