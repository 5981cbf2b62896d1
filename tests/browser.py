"""Chromium through Playwright for the page tests: the browser a module shares (the
`browser` fixture in conftest.py) and the fresh context each test opens in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ViewportSize, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESK: ViewportSize = {"width": 1280, "height": 860}  # a staff member's desktop screen
PHONE: ViewportSize = {"width": 390, "height": 780}  # a beneficiary's phone
DESK_TIMEOUT = 15_000  # ms: replies go through the worker


@contextmanager
def chromium() -> Iterator[Browser]:
    """The system's Chromium, closed after use."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def browser_context(
    browser: Browser, timeout: float, viewport: ViewportSize = DESK, **options: Any
) -> Iterator[BrowserContext]:
    """A fresh context (its own cookies and storage) on a `viewport` screen, every action
    waiting up to `timeout` ms; closed after use."""
    context = browser.new_context(viewport=viewport, **options)
    context.set_default_timeout(timeout)
    yield context
    context.close()
