"""Beneficiary journeys, one module each; `build_dispatcher` wires them in priority order."""

from __future__ import annotations

from handlers.base import Dispatcher, Flow
from handlers.language import LanguageHandler
from handlers.menu import MenuHandler, MenuWordHandler
from handlers.subscription import OptInHandler, OptOutHandler


def build_dispatcher() -> Dispatcher:
    """Opt-out/opt-in first (any state), then language and menu words, then journeys."""
    flows: dict[str, Flow] = {}
    return Dispatcher(
        global_handlers=[OptOutHandler(), OptInHandler(), LanguageHandler(), MenuWordHandler()],
        flows=flows,
        fallback=MenuHandler(flows),
    )
