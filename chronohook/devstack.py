"""``chronohook dev`` without surprises (decision 0037): before it starts anything it checks every port it will listen
on, it joins only a broker it starts (or the one ``CHRONOHOOK_KAFKA_BOOTSTRAP`` names), it says "up" once the API
answers, and the CLI's verbs refuse a data directory that holds no stack's data instead of making a second one.

The decisions are pure functions of what was found (``plan_broker``, ``wait_until``); the probes beside them are
small and touch only loopback sockets, ``/proc`` and the data directory.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from chronohook.errors import ChronohookError
from schemas.topics import DEFAULT_BOOTSTRAP

API_PORT_SETTING = "CHRONOHOOK_API_PORT"
BOOTSTRAP_SETTING = "CHRONOHOOK_KAFKA_BOOTSTRAP"
CONTROLLER_PORT_SETTING = "CHRONOHOOK_KAFKA_CONTROLLER_PORT"
DATA_DIR_SETTING = "CHRONOHOOK_DATA_DIR"
# How long `chronohook dev` waits for the API to answer /readyz before it gives up (a cold start on a loaded 2-core
# machine answered within ~15 s; the broker's own start is waited for before this clock starts).
READY_TIMEOUT_S = 120.0
LISTEN_BACKLOG = 4096
# Where `chronohook dev` may start its embedded broker; it listens on 127.0.0.1 whichever of the two is given.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
BROKER_HOST = "127.0.0.1"


class DevRefused(ChronohookError):
    """``chronohook dev`` or a CLI verb will not go on; the message is the one line the user sees."""


class PortBusy(DevRefused):
    """A port chronohook would listen on is held by another process."""


class NoStackData(DevRefused):
    """The data directory a CLI verb looked at holds no stack's database."""


# -- ports ----------------------------------------------------------------------------------------------------------


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_free(host: str, port: int) -> bool:
    """True when nothing holds ``host:port``. The probe binds with SO_REUSEADDR (a previous run's connections left in
    TIME_WAIT do not count) and without SO_REUSEPORT, so any listener fails it: another stack's SO_REUSEPORT API
    workers too, which a socket of ours carrying SO_REUSEPORT would silently have joined."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return False
        raise
    finally:
        probe.close()
    return True


def check_port(host: str, port: int, setting: str, what: str) -> None:
    """Raise ``PortBusy`` (one line naming the port and its setting) unless ``host:port`` is free to listen on."""
    try:
        free = port_free(host, port)
    except OSError as exc:
        raise PortBusy(f"cannot listen on {host}:{port} ({what}, {setting}): {exc.strerror}") from None
    if not free:
        raise PortBusy(
            f"port {port} ({what}, {setting}) is in use by another process on {host}: stop it or set {setting} to a "
            "free port"
        )


def api_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """The API's listening sockets, one per ingest worker, bound and listening before any child starts; the workers
    inherit them, so the port is this stack's for as long as it runs.

    Several workers share the port with SO_REUSEPORT (the kernel spreads connections) only after a probe without it
    found the port free: a second stack fails that probe instead of joining this one's group. Port 0 picks a free
    port, the same for every worker.
    """
    check_port(host, port, API_PORT_SETTING, "the API")
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(bind_api_socket(host, port, reuseport=workers > 1))
            port = int(sockets[-1].getsockname()[1])
    except PortBusy:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_api_socket(host: str, port: int, *, reuseport: bool) -> socket.socket:
    """One listening API socket (``PortBusy`` if it cannot be). With several workers a restarted one gets a fresh one
    of these: the dead worker's socket is closed at once, so the kernel hands it no more connections meanwhile."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise PortBusy(f"cannot listen on {host}:{port} (the API, {API_PORT_SETTING}): {exc.strerror}") from None
    return sock


# -- whose broker ---------------------------------------------------------------------------------------------------


class BrokerAction(StrEnum):
    use = "use"  # join the broker CHRONOHOOK_KAFKA_BOOTSTRAP names; never stop it
    start = "start"  # start the embedded broker; stop it at the end
    adopt = "adopt"  # the embedded broker an earlier `chronohook dev` on this data dir left running; stop it at the end


@dataclass(frozen=True)
class BrokerPlan:
    action: BrokerAction
    bootstrap: str
    pid: int | None = None  # adopt: the running broker's process


def split_bootstrap(bootstrap: str) -> tuple[str, int | None]:
    """``host:port`` of the first bootstrap server; the port is None when it is not a number."""
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    host = host.strip("[]")
    return host, int(port) if port.isdigit() else None


def plan_broker(
    *,
    bootstrap: str,
    explicit: bool,
    controller_port: int,
    answers: Callable[[str], bool],
    free: Callable[[str, int], bool],
    leftover_pid: int | None,
) -> BrokerPlan:
    """Which broker ``chronohook dev`` uses. It joins one only when ``CHRONOHOOK_KAFKA_BOOTSTRAP`` is set (``explicit``)
    and a broker answers there; unset, it starts its own at the default address, and a port held by anything else is
    one line naming the port and the setting (``DevRefused``). A broker this data directory's earlier run left running
    (``leftover_pid``) is taken back, not refused. ``answers`` and ``free`` are the probes, called only when needed."""
    host, port = split_bootstrap(bootstrap)
    if (explicit or leftover_pid is not None) and answers(bootstrap):
        if leftover_pid is not None:
            return BrokerPlan(BrokerAction.adopt, bootstrap, leftover_pid)
        return BrokerPlan(BrokerAction.use, bootstrap)
    if leftover_pid is not None:  # it holds this data directory's broker files: a second broker there cannot start
        raise DevRefused(
            f"the Kafka broker an earlier chronohook dev started from this data directory still runs (pid "
            f"{leftover_pid}) but does not answer at {bootstrap} ({BOOTSTRAP_SETTING}): stop it (kill {leftover_pid})"
        )
    if port is None or "," in bootstrap or host not in LOCAL_HOSTS:
        raise DevRefused(
            f"no broker answers at {bootstrap} ({BOOTSTRAP_SETTING}) to a client with the connection settings given "
            "(CHRONOHOOK_KAFKA_SECURITY_PROTOCOL, _SASL_*, _SSL_*, _PROPERTIES: a refused password or an untrusted CA "
            "looks the same), and chronohook dev starts one only at a single 127.0.0.1:PORT"
        )
    if not free(BROKER_HOST, port):
        if explicit:
            raise DevRefused(
                f"port {port} ({BOOTSTRAP_SETTING}={bootstrap}) is in use by a process that does not answer as a Kafka "
                f"broker: stop it or set {BOOTSTRAP_SETTING} to a free 127.0.0.1:PORT"
            )
        raise DevRefused(
            f"port {port} (the Kafka broker, {BOOTSTRAP_SETTING}, default {DEFAULT_BOOTSTRAP}) is in use by another "
            f"process, and chronohook dev joins only a broker it starts: to use that broker set "
            f"{BOOTSTRAP_SETTING}={bootstrap}; for one of its own set {BOOTSTRAP_SETTING}=127.0.0.1:<free port>"
        )
    if not free(BROKER_HOST, controller_port):
        raise DevRefused(
            f"port {controller_port} (the Kafka controller, {CONTROLLER_PORT_SETTING}) is in use by another process: "
            f"stop it or set {CONTROLLER_PORT_SETTING} to a free port"
        )
    return BrokerPlan(BrokerAction.start, bootstrap)


def leftover_broker(kafka_dir: Path, proc: Path = Path("/proc")) -> int | None:
    """The pid of the embedded broker an earlier ``chronohook dev`` started from ``kafka_dir`` if it still runs (the
    dev process was killed, or its terminal closed): its ``broker.pid`` names a live Kafka process reading this
    directory's ``server.properties``. Anything else (no file, a dead or reused pid) is None."""
    try:
        pid = int((kafka_dir / "broker.pid").read_text().strip())
        cmdline = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    props = str(kafka_dir.resolve() / "server.properties").encode()
    return pid if b"kafka.Kafka" in cmdline and props in cmdline else None


def stop_pid(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM a process this stack owns (an adopted broker) and wait until it is gone; SIGKILL after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


# -- "up" once the API answers --------------------------------------------------------------------------------------


def probe_host(api_host: str) -> str:
    """The address to reach an API listening on ``api_host`` from this machine (a wildcard is reached on loopback)."""
    if api_host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if api_host == "::":
        return "::1"
    return api_host


def api_url(api_host: str, port: int) -> str:
    host = probe_host(api_host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def answers_ready(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 200 within ``timeout`` (asked directly: a proxy in the environment is no part of
    whether our own API on this machine answers)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout: float,
    between: Callable[[], bool],
    now: Callable[[], float] = time.monotonic,
) -> bool:
    """Ask ``ready`` until it says yes (True) or ``timeout`` passes (False). ``between`` runs between two asks (it
    waits a little and keeps the children alive) and returns False to give up early (the user pressed Ctrl-C)."""
    deadline = now() + timeout
    while True:
        if ready():
            return True
        if now() >= deadline or not between():
            return False


# -- where the stack's data is --------------------------------------------------------------------------------------


def require_stack_data(data_dir: Path, database_url: str | None) -> None:
    """Refuse (``NoStackData``, naming the directory and the setting) when a CLI verb's database would be a new SQLite
    file: the stack's data is elsewhere, and a token written there is one the running API never sees. A database URL
    given in ``CHRONOHOOK_DATABASE_URL`` is the operator's to name, and is used as given."""
    if database_url:
        return
    where = data_dir.resolve()
    if (where / "chronohook.db").is_file():
        return
    raise NoStackData(
        f"no chronohook database in {where} ({DATA_DIR_SETTING}; nothing was created): run this where "
        f"`chronohook dev` runs, or set {DATA_DIR_SETTING} to the data directory it prints"
    )
