"""docs/benchmarks.md's "Bursts and neighbours": bench.burst's scenarios in one summary, gaps stated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.docs import EXPECTED, known_benches, load_results, render


def _figure(name: str, value: float, met: bool | None = None, target: str = "") -> dict[str, Any]:
    return {"name": name, "value": value, "unit": "", "ceiling": None, "target": target, "met": met, "ratio": None}


def test_bursts_render_together_with_their_gaps(tmp_path: Path) -> None:
    # Given the burst scenario's result (B's p99 over target) and the black hole's, and no cron flood
    results = tmp_path / "results"
    results.mkdir()
    machine = {"date": "2026-12-07 12:00 UTC", "commit": "abc1234", "cpus": 2}
    burst = [
        _figure("burst of 100,000: drain, instant to last delivery", 3_200.0, True, ">= 3,000"),
        _figure("burst of 100,000: jobs lost (not arrived, drain bounded)", 0.0, True, "= 0"),
        _figure("burst of 100,000: neighbour B lateness p50 (20 jobs/s)", 12.0),
        _figure("burst of 100,000: neighbour B lateness p99 (20 jobs/s)", 900.0, False, "<= 250 ms"),
        _figure("burst of 100,000: service restarts during the run", 0.0, True, "= 0"),
    ]
    hole = [
        _figure("black hole (3,000 jobs): neighbour B lateness p99 (20 jobs/s)", float("inf"), False, "<= 250 ms"),
        _figure("black hole (3,000 jobs): service restarts during the run", 1.0, False, "= 0"),
    ]
    for name, figures, command in (
        ("burst", burst, "python -m bench.burst --jobs 100000"),
        ("burst-blackhole", hole, "python -m bench.burst --scenario blackhole"),
    ):
        payload = {"bench": name, "command": command, "machine": machine, "figures": figures}
        (results / f"{name}.json").write_text(json.dumps(payload))

    # When the page is rendered
    page = render(load_results(results), known_benches(), {}, tmp_path)

    # Then one section holds a row per scenario run, each target missed marked as a gap
    section = page.split("## Bursts and neighbours", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| N jobs") or line.startswith("| 3,000 jobs")]
    assert len(rows) == 2
    assert "**900** (gap)" in rows[0] and "3,200" in rows[0]
    assert "**inf** (gap)" in rows[1] and "**1** (gap)" in rows[1]
    # And the scenario not run is named, each scenario's own table follows, and the gaps are listed once more
    assert "Not run: `python -m bench.burst --scenario cron-flood`" in section
    assert "### burst-blackhole" in section
    assert page.count("\n## burst") == 0
    gaps = page.split("## Gaps to targets", 1)[1]
    assert "neighbour B lateness p99" in gaps
    assert {"burst", "burst-blackhole", "burst-cron-flood"} <= set(EXPECTED)
