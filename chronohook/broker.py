"""The embedded single-node Kafka (KRaft broker + controller on 127.0.0.1), run from Maven Central's jars.

Used by ``chronohook dev`` when no broker answers, and by the test suite's session fixture: one code path.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from chronohook.errors import BrokerStartFailed
from chronohook.kafka.topics import broker_answers

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
        home.mkdir(parents=True, exist_ok=True)
        props = home / "server.properties"
        props.write_text(
            SERVER_PROPERTIES.format(port=self.port, controller_port=self.controller_port, log_dir=log_dir)
        )
        cluster_id_file = home / "cluster.id"
        if not cluster_id_file.exists():
            out = subprocess.run(
                self._java(libs, "kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
                check=True,
            )
            cluster_id_file.write_text(out.stdout.strip().splitlines()[-1])
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
        )
        if fmt.returncode != 0:
            raise BrokerStartFailed(f"formatting the broker's storage failed: {fmt.stderr or fmt.stdout}")
        log_file = (home / "broker.log").open("ab")
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
        )
        log_file.close()
        (home / "broker.pid").write_text(str(self.process.pid))
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
