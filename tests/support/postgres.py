"""A throwaway PostgreSQL cluster on a free port, from the machine's server binaries (skipped when absent)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.ports import free_port


def server_bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _as_postgres() -> list[str]:
    """initdb refuses to run as root; run the server as the `postgres` user then."""
    if os.geteuid() != 0:
        return []
    pwd.getpwnam("postgres")  # raises KeyError when there is no such user
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Yield a SQLAlchemy URL to a fresh cluster; stop and delete it afterwards."""
    bindir = server_bindir()
    assert bindir is not None
    prefix = _as_postgres()
    root = tempfile.mkdtemp(prefix="chronohook-pg-")
    os.chmod(root, 0o755)
    data, sockets = os.path.join(root, "data"), os.path.join(root, "run")
    os.makedirs(sockets)
    if prefix:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    try:
        subprocess.run(
            [*prefix, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "chronohook"],
            check=True,
            capture_output=True,
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*prefix, f"{bindir}/pg_ctl", "-D", data, "-o", options, "-w", "-l", f"{root}/log", "start"],
            check=True,
            capture_output=True,
        )
        try:
            yield f"postgresql+psycopg://chronohook@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(
                [*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], check=False, capture_output=True
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
