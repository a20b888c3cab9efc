"""docs/retention.md states each topic's retention; the configs the topics are created with say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas.topics import (
    CHANGELOG_CONFIG,
    DEAD_RECORDS,
    DEAD_RECORDS_CONFIG,
    EVENTS,
    LOG_CONFIG,
    QUEUE_SETTINGS,
    QUEUE_SETTINGS_CONFIG,
    TIMER_STATE,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "retention.md"
TOPICS = {
    EVENTS: LOG_CONFIG,
    TIMER_STATE: CHANGELOG_CONFIG,
    QUEUE_SETTINGS: QUEUE_SETTINGS_CONFIG,
    DEAD_RECORDS: DEAD_RECORDS_CONFIG,
}


def _documented(topic: str) -> dict[str, str]:
    """The `key=value` settings in the last column of the table row for ``<prefix>.<topic>``."""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| `<prefix>.{topic}` |"):
            return dict(re.findall(r"`([a-z.]+)=([^`]+)`", line.rsplit("|", 2)[1]))
    raise AssertionError(f"docs/retention.md has no row for <prefix>.{topic}")


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_the_documented_retention_is_the_created_one(topic: str) -> None:
    # Given the settings the document states for the topic
    documented = _documented(topic)
    # When they are compared with the config the topic is created with (the size limit aside)
    created = {k: v for k, v in TOPICS[topic].items() if k != "max.message.bytes"}
    # Then they are the same
    assert documented == created
