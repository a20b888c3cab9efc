"""A throwaway PostgreSQL cluster on a free port, from the machine's server binaries.

Without them the PostgreSQL tests skip, unless CHRONOHOOK_REQUIRE_POSTGRES=1 (`make test` sets it, after installing
Debian's postgresql package): then they fail, so CI cannot pass without testing PostgreSQL.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.ports import free_port

REQUIRE = "CHRONOHOOK_REQUIRE_POSTGRES"


def server_bindir() -> str | None:
    """Debian's newest server binaries, else an ``initdb`` on the PATH (other systems); None when there are none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _version(initdb: str) -> int:
    number = initdb.split("/")[4]
    return int(number) if number.isdigit() else 0


def require_server() -> None:
    """Skip the calling test (or fixture) when there are no server binaries; fail instead under
    CHRONOHOOK_REQUIRE_POSTGRES=1."""
    if server_bindir() is not None:
        return
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(
            f"{REQUIRE}=1 and no PostgreSQL server binaries (initdb) on this machine: `make test-deps` installs"
            " Debian's postgresql package",
            pytrace=False,
        )
    pytest.skip("no PostgreSQL server binaries on this machine (Debian package postgresql; `make test-deps`)")


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


def new_database(server_url: str) -> str:
    """A new, empty database on a throwaway cluster: its URL (tests that need a database of their own)."""
    from sqlalchemy import create_engine, make_url, text

    name = f"d_{secrets.token_hex(6)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
