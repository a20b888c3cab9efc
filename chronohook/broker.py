"""The embedded single-node Kafka (KRaft broker + controller on 127.0.0.1), run from Maven Central's jars.

Used by ``chronohook dev`` when no broker answers, and by the test suite's session fixture: one code path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
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

    def _java(self, libs: Path, *args: str) -> list[str]:
        return ["java", "-cp", f"{libs}/*", *args]

    def start(self, timeout: float = 120.0) -> None:
        libs = ensure_jars()
        home = self.data_dir.resolve()
        log_dir = home / "log"
        # The broker's files hold every job's request, headers included: its owner's alone. The directory is closed
        # to others whatever it held before, and everything created below it (by us or by the JVM) is 0600/0700.
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        home.chmod(0o700)
        props = home / "server.properties"
        _write_private(props, server_properties(self.port, self.controller_port, log_dir))
        cluster_id_file = home / "cluster.id"
        if not cluster_id_file.exists():
            out = subprocess.run(
                self._java(libs, "kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
                check=True,
                umask=OWNER_ONLY_UMASK,
            )
            _write_private(cluster_id_file, out.stdout.strip().splitlines()[-1])
        fmt = subprocess.run(
            self._java(
                libs,
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_id_file.read_text().strip(),
                "-c",
                str(props),
                "--ignore-formatted",
            ),
            capture_output=True,
            text=True,
            check=False,
            umask=OWNER_ONLY_UMASK,
        )
        if fmt.returncode != 0:
            raise BrokerStartFailed(f"formatting the broker's storage failed: {fmt.stderr or fmt.stdout}")
        log_file = os.fdopen(os.open(home / "broker.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        jvm = [
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
        ]
        self.process = subprocess.Popen(
            ["java", *jvm, "-cp", f"{libs}/*", "kafka.Kafka", str(props)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=OWNER_ONLY_UMASK,
        )
        log_file.close()
        _write_private(home / "broker.pid", str(self.process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (home / "broker.log").read_text(errors="replace")[-3000:]
                raise BrokerStartFailed(f"the broker exited with {self.process.returncode}:\n{tail}")
            if broker_answers(self.bootstrap, timeout=1.0):
                return
        self.stop()
        raise BrokerStartFailed(f"the broker did not answer at {self.bootstrap} within {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
