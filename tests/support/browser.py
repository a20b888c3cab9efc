"""Debian's chromium, driven by Playwright (no browser download): for the console's browser tests and screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
MISSING = f"{CHROMIUM} is missing: run `make test-deps` (it installs Debian's chromium)"


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless chromium; AssertionError (never a skip) when it is not installed."""
    assert Path(CHROMIUM).exists(), MISSING
    with sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses its sandbox as root
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()
