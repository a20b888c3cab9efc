"""`chronohook dev` never surprises (decision 0037): busy ports are one line naming the port and its setting, it joins
only a broker it starts or one CHRONOHOOK_KAFKA_BOOTSTRAP names, "up" waits for the API, and the CLI's verbs refuse a
data directory that holds no stack's data. Real sockets, on 127.0.0.1 ephemeral ports only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chronohook.devstack import (
    BrokerAction,
    BrokerPlan,
    DevRefused,
    NoStackData,
    PortBusy,
    api_sockets,
    api_url,
    bind_api_socket,
    check_port,
    leftover_broker,
    plan_broker,
    port_free,
    require_stack_data,
    wait_until,
)
from chronohook.supervisor import API_SOCKET_FD_ENV, Child, Supervisor
from tests.support.ports import free_port

HOST = "127.0.0.1"


def _listener(reuseport: bool = False, port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, port))
    sock.listen(1024)
    return sock


@pytest.fixture
def stranger() -> Iterator[socket.socket]:
    """Another stack's API worker: a listener with SO_REUSEPORT, which a socket of ours with it would silently join."""
    sock = _listener(reuseport=True)
    try:
        yield sock
    finally:
        sock.close()


# -- ports --------------------------------------------------------------------------------------------------------


def test_a_port_held_by_a_listener_is_busy_and_free_again_once_it_closes() -> None:
    # Given a listener on an ephemeral port
    sock = _listener()
    port = sock.getsockname()[1]
    # Then the port is busy; and once the listener closes it is free
    assert not port_free(HOST, port)
    sock.close()
    assert port_free(HOST, port)


def test_another_stacks_reuseport_workers_make_the_port_busy(stranger: socket.socket) -> None:
    # Given another stack's API workers sharing their port with SO_REUSEPORT
    port = stranger.getsockname()[1]
    # When the probe looks at it (without SO_REUSEPORT), then it is busy: no silent sharing
    assert not port_free(HOST, port)


def test_a_previous_runs_connections_in_time_wait_do_not_make_the_port_busy() -> None:
    # Given a server that answered a connection and closed it first (its side stays in TIME_WAIT), then stopped
    server = _listener()
    port = server.getsockname()[1]
    client = socket.create_connection((HOST, port))
    conn, _ = server.accept()
    conn.close()
    client.recv(1)  # the server's FIN has arrived
    client.close()
    server.close()
    # When the next run probes the port, then it is free
    assert port_free(HOST, port)


def test_a_busy_port_is_one_line_naming_the_port_and_its_setting(stranger: socket.socket) -> None:
    port = stranger.getsockname()[1]
    with pytest.raises(PortBusy) as caught:
        check_port(HOST, port, "CHRONOHOOK_API_PORT", "the API")
    message = str(caught.value)
    assert "\n" not in message
    assert f"port {port}" in message and "CHRONOHOOK_API_PORT" in message


def test_several_workers_of_one_stack_share_the_port_and_a_second_stack_is_refused() -> None:
    # Given one stack's two API workers' sockets on a port picked for them (port 0)
    ours = api_sockets(HOST, 0, 2)
    try:
        ports = {sock.getsockname()[1] for sock in ours}
        assert len(ports) == 1
        (port,) = ports
        # Then they are listening: a client is accepted by one of them
        with socket.create_connection((HOST, port), timeout=5):
            pass
        # When a second stack asks for the same port, then it is refused, naming the port and its setting
        with pytest.raises(PortBusy, match=f"port {port} .*CHRONOHOOK_API_PORT"):
            api_sockets(HOST, port, 2)
    finally:
        for sock in ours:
            sock.close()


def test_one_workers_socket_lets_no_reuseport_socket_join() -> None:
    # Given a stack with one API worker
    (ours,) = api_sockets(HOST, 0, 1)
    try:
        # When a process binds the port with SO_REUSEPORT, then the kernel refuses it: one worker shares with none
        with (
            pytest.raises(OSError, match="Address already in use"),
            _listener(reuseport=True, port=ours.getsockname()[1]),
        ):
            pass
    finally:
        ours.close()


def test_supervisor_hands_each_ingest_worker_its_own_socket() -> None:
    # Given two API sockets bound by `chronohook dev`
    ours = api_sockets(HOST, 0, 2)
    try:
        supervisor = Supervisor(env={"CHRONOHOOK_TOPIC_PREFIX": "p"}, api_workers=2, api_sockets=tuple(ours))
        # When it plans its ingest children, then each inherits one of them (by fd), and no other child any
        ingest = supervisor._instances("ingest")
        assert [env[API_SOCKET_FD_ENV] for _, env in ingest] == [str(sock.fileno()) for sock in ours]
        assert all(API_SOCKET_FD_ENV not in env for _, env in supervisor._instances("executor"))
    finally:
        for sock in ours:
            sock.close()


def test_a_dead_workers_socket_is_closed_at_once_and_its_restart_gets_a_fresh_one() -> None:
    # Given two workers' sockets, the supervisor able to bind a fresh one on the port, and worker 1 planned
    ours = api_sockets(HOST, 0, 2)
    port = ours[0].getsockname()[1]
    supervisor = Supervisor(
        env={},
        api_workers=2,
        api_sockets=tuple(ours),
        rebind_api_socket=lambda: bind_api_socket(HOST, port, reuseport=True),
    )
    name, env = supervisor._instances("ingest")[0]
    child = Child(name, "ingest", env)
    try:
        # When that worker has died: its socket is closed before the back-off (no connection waits on it meanwhile)
        fresh = supervisor._fresh_socket(child)
        assert ours[0].fileno() == -1
        assert not port_free(HOST, port)  # the other worker's socket keeps the port this stack's
        # And before its restart it is handed a fresh socket on the same port, in place of the old one
        fresh()
        new = supervisor.api_sockets[0]
        assert new is not ours[0] and new.getsockname()[1] == port
        assert child.env[API_SOCKET_FD_ENV] == str(new.fileno())
    finally:
        for sock in supervisor.api_sockets:
            sock.close()


# -- whose broker -----------------------------------------------------------------------------------------------


def _never(*_: object) -> bool:
    raise AssertionError("this probe must not be asked")


def _always(value: bool) -> Callable[..., bool]:
    return lambda *_: value


def _busy(*ports: int) -> Callable[[str, int], bool]:
    return lambda _host, port: port not in ports


DEFAULT = "127.0.0.1:9092"


@pytest.mark.parametrize(
    ("bootstrap", "explicit", "answers", "free", "leftover", "expected"),
    [
        # unset: its own broker at the default address, never asking whether someone's answers there
        (DEFAULT, False, _never, _busy(), None, BrokerPlan(BrokerAction.start, DEFAULT)),
        # unset, its own broker from an earlier run still answering there: taken back (and stopped at the end)
        (DEFAULT, False, _always(True), _busy(9092, 9093), 4242, BrokerPlan(BrokerAction.adopt, DEFAULT, 4242)),
        # set, and a broker answers there: joined (never stopped)
        ("kafka.example:9092", True, _always(True), _never, None, BrokerPlan(BrokerAction.use, "kafka.example:9092")),
        ("127.0.0.1:19092", True, _always(True), _never, None, BrokerPlan(BrokerAction.use, "127.0.0.1:19092")),
        # set to a free local port with nothing answering: its own broker there
        ("127.0.0.1:19092", True, _always(False), _busy(), None, BrokerPlan(BrokerAction.start, "127.0.0.1:19092")),
        ("localhost:19092", True, _always(False), _busy(), None, BrokerPlan(BrokerAction.start, "localhost:19092")),
    ],
)
def test_broker_plan(
    bootstrap: str,
    explicit: bool,
    answers: Callable[[str], bool],
    free: Callable[[str, int], bool],
    leftover: int | None,
    expected: BrokerPlan,
) -> None:
    plan = plan_broker(
        bootstrap=bootstrap, explicit=explicit, controller_port=9093, answers=answers, free=free, leftover_pid=leftover
    )
    assert plan == expected


@pytest.mark.parametrize(
    ("bootstrap", "explicit", "answers", "free", "says"),
    [
        # unset and the default port held by anything (a stranger's broker too): refused, never joined
        (DEFAULT, False, _never, _busy(9092), ["port 9092", "CHRONOHOOK_KAFKA_BOOTSTRAP", "joins only a broker"]),
        # the controller port held: refused, naming its setting
        (DEFAULT, False, _never, _busy(9093), ["port 9093", "CHRONOHOOK_KAFKA_CONTROLLER_PORT"]),
        ("127.0.0.1:19092", True, _always(False), _busy(9093), ["port 9093", "CHRONOHOOK_KAFKA_CONTROLLER_PORT"]),
        # set to a local port held by something that is no broker
        ("127.0.0.1:19092", True, _always(False), _busy(19092), ["port 19092", "does not answer as a Kafka broker"]),
        # set to another machine's broker that does not answer: nothing to start there
        ("kafka.example:9092", True, _always(False), _never, ["no broker answers at kafka.example:9092"]),
        ("127.0.0.1:1,127.0.0.1:2", True, _always(False), _never, ["CHRONOHOOK_KAFKA_BOOTSTRAP"]),
    ],
)
def test_broker_plan_refuses_in_one_line(
    bootstrap: str,
    explicit: bool,
    answers: Callable[[str], bool],
    free: Callable[[str, int], bool],
    says: list[str],
) -> None:
    with pytest.raises(DevRefused) as caught:
        plan_broker(
            bootstrap=bootstrap, explicit=explicit, controller_port=9093, answers=answers, free=free, leftover_pid=None
        )
    message = str(caught.value)
    assert "\n" not in message
    assert all(part in message for part in says), message


def test_a_leftover_broker_that_does_not_answer_is_named_not_mistaken_for_a_stranger() -> None:
    # Given this data directory's broker from an earlier run, alive but not answering (hung, or still starting)
    with pytest.raises(DevRefused) as caught:
        plan_broker(
            bootstrap=DEFAULT,
            explicit=False,
            controller_port=9093,
            answers=_always(False),
            free=_busy(9092, 9093),
            leftover_pid=4242,
        )
    # Then the line names it by pid, and how to stop it
    assert "earlier chronohook dev" in str(caught.value) and "kill 4242" in str(caught.value)


def test_a_leftover_broker_is_known_by_its_pid_file_and_command_line(tmp_path: Path) -> None:
    # Given the broker.pid an earlier `chronohook dev` wrote, and a fake /proc
    kafka_dir, proc = tmp_path / "kafka", tmp_path / "proc"
    kafka_dir.mkdir()
    (kafka_dir / "broker.pid").write_text("4242")
    assert leftover_broker(kafka_dir, proc) is None  # no such process
    (proc / "4242").mkdir(parents=True)
    cmdline = proc / "4242" / "cmdline"
    # When the pid is another program's (reused), then it is not ours
    cmdline.write_bytes(b"java\0-cp\0x\0kafka.Kafka\0/elsewhere/server.properties\0")
    assert leftover_broker(kafka_dir, proc) is None
    # When it is a Kafka reading this directory's properties, then it is the one left running
    cmdline.write_bytes(
        b"java\0-cp\0x\0kafka.Kafka\0" + str(kafka_dir.resolve() / "server.properties").encode() + b"\0"
    )
    assert leftover_broker(kafka_dir, proc) == 4242


# -- "up" once the API answers --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def tick(self) -> bool:
        self.t += 0.2
        return True


def test_wait_until_returns_once_ready_answers() -> None:
    clock = FakeClock()
    answers = iter([False, False, True])
    assert wait_until(lambda: next(answers), timeout=120, between=clock.tick, now=clock.now)
    assert clock.t == pytest.approx(0.4)


def test_wait_until_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    assert not wait_until(lambda: False, timeout=10, between=clock.tick, now=clock.now)
    assert 10.0 - 1e-9 <= clock.t < 10.4


def test_wait_until_stops_when_asked() -> None:
    clock = FakeClock()
    assert not wait_until(lambda: False, timeout=120, between=lambda: False, now=clock.now)
    assert clock.t == 0.0


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:8000"), ("0.0.0.0", "http://127.0.0.1:8000"), ("::", "http://[::1]:8000")],
)
def test_the_api_url_is_one_this_machine_reaches(host: str, url: str) -> None:
    assert api_url(host, 8000) == url


# -- where the stack's data is ----------------------------------------------------------------------------------


def test_a_data_dir_without_a_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    with pytest.raises(NoStackData) as caught:
        require_stack_data(tmp_path / "elsewhere", None)
    message = str(caught.value)
    assert str((tmp_path / "elsewhere").resolve()) in message and "CHRONOHOOK_DATA_DIR" in message
    assert not (tmp_path / "elsewhere").exists()


def test_a_data_dir_holding_the_database_or_a_named_database_is_used(tmp_path: Path) -> None:
    require_stack_data(tmp_path, "postgresql+psycopg://u@db/chronohook")
    (tmp_path / "chronohook.db").touch()
    require_stack_data(tmp_path, None)


# -- the command, in a process of its own -----------------------------------------------------------------------


def _dev(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOHOOK_")}
    # Metrics ports off unless a test names them: the default ones may be another stack's on this machine.
    env.update(CHRONOHOOK_DATA_DIR=str(tmp_path / "data"), CHRONOHOOK_METRICS_BASE_PORT="0")
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "chronohook.cli", "dev"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_dev_on_a_busy_api_port_exits_with_one_line_and_starts_nothing(
    tmp_path: Path, stranger: socket.socket
) -> None:
    # Given another stack's API workers on a port
    port = stranger.getsockname()[1]
    # When `chronohook dev` is started on that port
    done = _dev(tmp_path, CHRONOHOOK_API_PORT=str(port), CHRONOHOOK_KAFKA_BOOTSTRAP=f"{HOST}:{free_port()}")
    # Then it exits non-zero with one line naming the port and its setting, and started nothing (no data dir, no
    # broker, no banner)
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"port {port}" in line and "CHRONOHOOK_API_PORT" in line
    assert not (tmp_path / "data").exists()


def test_dev_with_a_busy_controller_port_exits_with_one_line(tmp_path: Path) -> None:
    # Given a free API port and Kafka port, and a listener on the controller port
    holder = _listener()
    try:
        controller = holder.getsockname()[1]
        # When `chronohook dev` would start its broker there
        done = _dev(
            tmp_path,
            CHRONOHOOK_API_PORT=str(free_port()),
            CHRONOHOOK_KAFKA_BOOTSTRAP=f"{HOST}:{free_port()}",
            CHRONOHOOK_KAFKA_CONTROLLER_PORT=str(controller),
        )
    finally:
        holder.close()
    # Then it exits non-zero with one line naming the controller port and its setting
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert f"port {controller}" in line and "CHRONOHOOK_KAFKA_CONTROLLER_PORT" in line


def test_tokens_create_in_a_directory_without_a_stack_refuses_and_creates_nothing(tmp_path: Path) -> None:
    # Given a directory where no stack ever ran, and CHRONOHOOK_DATA_DIR unset
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHRONOHOOK_")}
    # When a token is created from there
    done = subprocess.run(
        [sys.executable, "-m", "chronohook.cli", "tokens", "create", "--tenant", "acme"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it prints no token, names the directory it looked at and the setting, and creates no second database
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert str((tmp_path / ".chronohook").resolve()) in line and "CHRONOHOOK_DATA_DIR" in line
    assert not (tmp_path / ".chronohook").exists()
