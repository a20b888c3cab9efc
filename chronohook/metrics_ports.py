"""Which port each service process serves its metrics on (decision 0042): pure, and free of prometheus-client, so
the supervisor and the CLI can plan ports without importing it (it must be imported only once the API's multiprocess
directory is set, chronohook/metrics.py).

From ``CHRONOHOOK_METRICS_BASE_PORT`` (default 9400): the timer on base + 1, the projector on base + 2, the executor
on base + 3; ``chronohook dev``'s executors ``executor-1`` .. ``executor-N`` on base + 3 .. base + 2 + N. The API
serves its ``/metrics`` on the API port.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_BASE_PORT = 9400
OFFSETS = {"timer": 1, "projector": 2, "executor": 3}


def child_port(base: int, name: str) -> int | None:
    """The metrics port of the supervisor's child ``name`` (``timer``, ``executor-2``...); None for ingest children
    (their metrics are on the API port) or when metrics ports are off (base 0)."""
    if base == 0:
        return None
    if name in OFFSETS:
        return base + OFFSETS[name]
    service, _, number = name.rpartition("-")
    if service == "executor" and number.isdigit():
        return base + OFFSETS["executor"] + int(number) - 1
    return None


def metrics_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host
    return f"http://[{shown}]:{port}/metrics" if ":" in shown else f"http://{shown}:{port}/metrics"


def planned(base: int, executors: int) -> dict[str, int]:
    """The metrics ports of the children ``chronohook dev`` will start, by child name (checked free before it does)."""
    names = ["timer", "projector"] + (
        ["executor"] if executors == 1 else [f"executor-{i + 1}" for i in range(executors)]
    )
    ports = {name: child_port(base, name) for name in names}
    return {name: port for name, port in ports.items() if port is not None}


def prepare_multiprocess(api_metrics_dir: Path | None) -> None:
    """Point prometheus-client at the API processes' shared metrics directory (its multiprocess mode): called before
    anything imports prometheus-client, which reads ``PROMETHEUS_MULTIPROC_DIR`` once, when imported."""
    if api_metrics_dir is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(api_metrics_dir)
