"""The embedded single-node Kafka (KRaft broker + controller on 127.0.0.1), run from Maven Central's jars.

Used by ``chronohook dev`` when no broker answers, and by the test suite's session fixture: one code path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chronohook.errors import BrokerStartFailed
from chronohook.kafka.topics import broker_answers
from schemas.topics import TOPIC_MAX_MESSAGE_BYTES

# What the broker accepts, from the contract's sizes (schemas/topics.py), so broker, topics and clients agree;
# docker-compose.yml sets the same values (tests/unit/test_dead_records_limits.py holds them equal).
# Files the broker and its tools create are readable by their owner only (its log segments hold job data).
OWNER_ONLY_UMASK = 0o077

BROKER_LIMITS = {
    "message.max.bytes": TOPIC_MAX_MESSAGE_BYTES,
    "replica.fetch.max.bytes": TOPIC_MAX_MESSAGE_BYTES,
}

REPO_ROOT = Path(__file__).resolve().parent.parent
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LIBS = REPO_ROOT / "deploy" / "kafka" / "libs"

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.io.threads=2
num.network.threads=2
log.flush.interval.messages=9223372036854775807
"""


def server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    limits = "".join(f"{name}={value}\n" for name, value in BROKER_LIMITS.items())
    return SERVER_PROPERTIES.format(port=port, controller_port=controller_port, log_dir=log_dir) + limits


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed


def ensure_jars(libs: Path = LIBS, pom: Path = POM) -> Path:
    """Gather Kafka's runtime classpath with Maven once; later calls find it in place."""
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerStartFailed("Maven (mvn) is needed to fetch Kafka's jars; install it or point at a broker")
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={libs}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerStartFailed(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    marker.touch()
    return libs


def _java(libs: Path, *args: str) -> list[str]:
    return ["java", "-cp", f"{libs}/*", *args]


def _random_cluster_id(libs: Path) -> str:
    out = subprocess.run(
        _java(libs, "kafka.tools.StorageTool", "random-uuid"),
        capture_output=True,
        text=True,
        check=True,
        umask=OWNER_ONLY_UMASK,
    )
    return out.stdout.strip().splitlines()[-1]


def _format_storage(libs: Path, props: Path, cluster_id: str, *options: str) -> None:
    """Format a node's KRaft storage for ``cluster_id`` (``options``: ``--standalone``, ``--add-scram``, ...)."""
    fmt = subprocess.run(
        _java(libs, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), *options),
        capture_output=True,
        text=True,
        check=False,
        umask=OWNER_ONLY_UMASK,
    )
    if fmt.returncode != 0:
        raise BrokerStartFailed(f"formatting {props.parent}'s storage failed: {fmt.stderr or fmt.stdout}")


def _spawn_node(libs: Path, props: Path, heap: str) -> subprocess.Popen[bytes]:
    """One Kafka node (``kafka.Kafka props``) in a session of its own, its output appended to ``broker.log`` beside
    ``props``; every file it creates its owner's alone (its log segments hold job data)."""
    log_file = os.fdopen(os.open(props.parent / "broker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    jvm = [
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:TieredStopAtLevel=1",
        "-Xshare:auto",
    ]
    try:
        return subprocess.Popen(
            ["java", *jvm, "-cp", f"{libs}/*", "kafka.Kafka", str(props)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=OWNER_ONLY_UMASK,
        )
    finally:
        log_file.close()


def _await_nodes(
    nodes: dict[Path, subprocess.Popen[bytes]], ready: Callable[[], bool], timeout: float, what: str
) -> None:
    """Wait until ``ready()``; BrokerStartFailed (with the tail of its log) as soon as a node exits, or at the
    deadline. ``nodes``: each node's directory (holding its broker.log) and process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for home, process in nodes.items():
            if process.poll() is not None:
                tail = (home / "broker.log").read_text(errors="replace")[-3000:]
                raise BrokerStartFailed(f"the broker in {home} exited with {process.returncode}:\n{tail}")
        if ready():
            return
        time.sleep(0.2)
    raise BrokerStartFailed(f"{what} within {timeout:.0f} s")


def _stop_all(processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM every live process (a controlled shutdown), then wait; SIGKILL one that outlasts ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@dataclass
class LocalBroker:
    """One broker process; ``start()`` returns once the Admin API answers."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        libs = ensure_jars()
        home = self.data_dir.resolve()
        # The broker's files hold every job's request, headers included: its owner's alone. The directory is closed
        # to others whatever it held before, and everything created below it (by us or by the JVM) is 0600/0700.
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        home.chmod(0o700)
        props = home / "server.properties"
        _write_private(props, server_properties(self.port, self.controller_port, home / "log"))
        cluster_id_file = home / "cluster.id"
        if not cluster_id_file.exists():
            _write_private(cluster_id_file, _random_cluster_id(libs))
        _format_storage(libs, props, cluster_id_file.read_text().strip(), "--standalone", "--ignore-formatted")
        self.process = _spawn_node(libs, props, self.heap)
        _write_private(home / "broker.pid", str(self.process.pid))
        try:
            _await_nodes(
                {home: self.process},
                lambda: broker_answers(self.bootstrap, timeout=1.0),
                timeout,
                f"the broker did not answer at {self.bootstrap}",
            )
        except BrokerStartFailed:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is not None:
            _stop_all([self.process], timeout)


# -- a local cluster: three KRaft nodes (broker + controller each) with SASL_SSL (issue 16) ---------------------
# For tests of chronohook against a cluster as it is run: clients and brokers speak SASL_SSL (SCRAM-SHA-512) to each
# other on 127.0.0.1; the controllers' own quorum traffic stays plaintext on loopback. Internal topics are replicated
# three times with min.insync.replicas 2, so one node can be killed without refusing a write or losing one.
CLUSTER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";
ssl.keystore.type=PKCS12
ssl.keystore.location={keystore}
ssl.keystore.password={keystore_password}
ssl.key.password={keystore_password}
ssl.truststore.type=PEM
ssl.truststore.location={ca}
log.dirs={log_dir}
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.io.threads=2
num.network.threads=2
"""


@dataclass(frozen=True)
class ClusterTls:
    """What the cluster's nodes present and trust: a PKCS12 keystore (key and certificate for 127.0.0.1) and the PEM
    CA certificate that signed it; and the SCRAM-SHA-512 user the nodes (and the clients) authenticate as."""

    keystore: Path
    keystore_password: str
    ca: Path
    user: str
    password: str


@dataclass
class LocalCluster:
    """Three KRaft nodes on 127.0.0.1 speaking SASL_SSL; ``start()`` returns once all three are in the metadata."""

    data_dir: Path
    ports: tuple[int, int, int]
    controller_ports: tuple[int, int, int]
    tls: ClusterTls
    heap: str = "384m"
    processes: dict[int, subprocess.Popen[bytes]] | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def client_config(self) -> dict[str, str]:
        """librdkafka properties a client of this cluster needs besides the brokers (as the named settings give)."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": self.tls.user,
            "sasl.password": self.tls.password,
            "ssl.ca.location": str(self.tls.ca),
        }

    def _properties(self, node_id: int, log_dir: Path) -> str:
        voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(self.controller_ports))
        text = CLUSTER_PROPERTIES.format(
            node_id=node_id,
            voters=voters,
            port=self.ports[node_id - 1],
            controller_port=self.controller_ports[node_id - 1],
            user=self.tls.user,
            password=self.tls.password,
            keystore=self.tls.keystore,
            keystore_password=self.tls.keystore_password,
            ca=self.tls.ca,
            log_dir=log_dir,
        )
        return text + "".join(f"{name}={value}\n" for name, value in BROKER_LIMITS.items())

    def start(self, timeout: float = 180.0) -> None:
        libs = ensure_jars()
        home = self.data_dir.resolve()
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        cluster_id = _random_cluster_id(libs)
        scram = f"SCRAM-SHA-512=[name={self.tls.user},password={self.tls.password}]"
        self.processes = {}
        for node_id in (1, 2, 3):
            node = home / f"node-{node_id}"
            node.mkdir(exist_ok=True, mode=0o700)
            props = node / "server.properties"
            _write_private(props, self._properties(node_id, node / "log"))
            _format_storage(libs, props, cluster_id, "--add-scram", scram)
        for node_id in (1, 2, 3):
            self.start_node(node_id)
        try:
            _await_nodes(
                {home / f"node-{n}": process for n, process in self.processes.items()},
                lambda: self.brokers_up() == 3,
                timeout,
                f"the cluster at {self.bootstrap} did not show 3 brokers",
            )
        except BrokerStartFailed:
            self.stop()
            raise

    def start_node(self, node_id: int) -> None:
        """Start node ``node_id`` (1-3) on its formatted storage: at first, or again after ``kill``."""
        assert self.processes is not None
        props = self.data_dir.resolve() / f"node-{node_id}" / "server.properties"
        self.processes[node_id] = _spawn_node(ensure_jars(), props, self.heap)

    def brokers_up(self) -> int:
        """Brokers the cluster's metadata lists now (0 when none answers)."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, **self.client_config(), "log_level": 0})
        try:
            return len(admin.list_topics(timeout=2).brokers)
        except KafkaException:
            return 0

    def kill(self, node_id: int) -> None:
        """SIGKILL node ``node_id``: no controlled shutdown, as a crashed machine."""
        assert self.processes is not None
        process = self.processes[node_id]
        process.kill()
        process.wait(30)

    def stop(self, timeout: float = 30.0) -> None:
        _stop_all(list((self.processes or {}).values()), timeout)
