"""The short fault run, shared by the tests that read it (test_faults.py, test_exactly_once.py): one run is ~2 min."""

from __future__ import annotations

import pytest

from bench.faults import FaultReport, run_faults


@pytest.fixture(scope="session")
def short_fault_run(tmp_path_factory: pytest.TempPathFactory) -> FaultReport:
    """One short fault run; ``run_faults`` stops every process it started (receiver, load, broker, services)."""
    return run_faults(tmp_path_factory.mktemp("faults"), short=True, drain_s=30.0)
