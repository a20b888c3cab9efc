"""Unit-test defaults."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _short_read_your_writes_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built here project only when a test asks: a read before that waits out the read-your-writes bound
    (decision 0035) and answers stale. 50 ms instead of 2 s keeps such reads quick; a test needing another bound
    passes its own setting."""
    monkeypatch.setenv("CHRONOHOOK_READ_YOUR_WRITES_WAIT_S", "0.05")
