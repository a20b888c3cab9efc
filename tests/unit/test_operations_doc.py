"""docs/operations.md lists every metric, and the Grafana dashboard uses only metrics it lists (decision 0042)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import services.executor.metrics
import services.ingest.metrics
import services.projector.metrics  # noqa: F401 - imported for the metrics they define
from chronohook.metrics import DeadRecords

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = re.compile(r"_(total|bucket|sum|count|created)$")


def _documented() -> set[str]:
    text = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    return {SUFFIXES.sub("", name) for name in re.findall(r"^\| `(chronohook_\w+)`", text, flags=re.MULTILINE)}


def test_every_metric_defined_is_documented() -> None:
    # Given the metrics the services define (and the dead records' collector)
    names = {family.name for family in REGISTRY.collect() if family.name.startswith("chronohook_")}
    names |= {family.name for family in DeadRecords().collect()}
    # Then docs/operations.md has a row for each
    assert names - _documented() == set()


def test_the_dashboard_uses_only_documented_metrics() -> None:
    # Given the dashboard's queries
    dashboard = json.loads((ROOT / "deploy/grafana/chronohook-dashboard.json").read_text(encoding="utf-8"))
    used = {
        SUFFIXES.sub("", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"chronohook_\w+", target["expr"])
    }
    # Then each metric they use is documented, and the dashboard shows most of them
    assert used and used - _documented() == set()
    assert len(used) >= 12
