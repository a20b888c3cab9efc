"""`chronohook dev` checks its metrics ports before it starts anything (decisions 0037, 0042)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.ports import free_port


def test_a_busy_metrics_port_is_one_line_naming_it_and_nothing_starts(tmp_path: Path) -> None:
    # Given another process listening on the timer's metrics port (base + 1)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    base = int(holder.getsockname()[1]) - 1
    env = {
        **os.environ,
        "CHRONOHOOK_DATA_DIR": str(tmp_path / "data"),
        "CHRONOHOOK_API_PORT": str(free_port()),
        "CHRONOHOOK_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "CHRONOHOOK_METRICS_BASE_PORT": str(base),
    }
    try:
        # When `chronohook dev` runs
        done = subprocess.run(
            [sys.executable, "-m", "chronohook.cli", "dev"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        holder.close()
    # Then it exits at once with one line naming the port and the setting, having started no broker
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.splitlines()
    assert f"port {base + 1}" in line and "CHRONOHOOK_METRICS_BASE_PORT" in line and "timer" in line
    assert not (tmp_path / "data" / "kafka").exists()
