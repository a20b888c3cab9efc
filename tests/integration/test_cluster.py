"""chronohook on a cluster as it is run: three KRaft brokers, SASL_SSL (SCRAM-SHA-512) with a throwaway CA, topics
replicated 3 times with min.insync.replicas 2; the broker leading the job log is killed mid-stream.

Given only settings (CHRONOHOOK_KAFKA_*), every service connects; no accepted job is lost, and every duplicate
delivery carries the same ``webhook-id`` as the first (docs/guarantees.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chronohook.broker import ClusterTls, LocalCluster
from chronohook.kafka.config import admin_config, consumer_config
from chronohook.kafka.topics import Topics
from chronohook.settings import Settings
from chronohook.store.engine import create_schema, make_engine
from chronohook.store.tokens import create_token
from chronohook.supervisor import Supervisor
from schemas.topics import TYPE_HEADER
from tests.integration.test_subscribers import SUBSCRIBERS_PYTHON, FollowerProcess
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.receiver import Receiver
from tests.support.services import running_services, services_env

JOBS = 300
# Due over this many seconds after they are all created; the leader is killed a third of the way in.
SPREAD_S = 12


def _throwaway_tls(home: Path) -> ClusterTls:
    """A CA made for this test alone, and the brokers' key and certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chronohook test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = home / "ca.pem"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    store_password = secrets.token_hex(12)
    keystore = home / "broker.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"broker", key, cert, [ca_cert], serialization.BestAvailableEncryption(store_password.encode())
        )
    )
    keystore.chmod(0o600)
    return ClusterTls(keystore, store_password, ca, user="chronohook", password=secrets.token_hex(12))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    home = tmp_path_factory.mktemp("cluster")
    tls = _throwaway_tls(home / "tls")
    ports = (free_port(), free_port(), free_port())
    controllers = (free_port(), free_port(), free_port())
    cluster = LocalCluster(home / "nodes", ports, controllers, tls)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class SecuredStack:
    settings: Settings
    supervisor: Supervisor
    base_url: str
    token: str
    env: dict[str, str]


def security_env(cluster: LocalCluster) -> dict[str, str]:
    """The connection settings a client of the cluster is given: nothing else tells it how to connect."""
    return {
        "CHRONOHOOK_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "CHRONOHOOK_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CHRONOHOOK_KAFKA_SASL_USERNAME": cluster.tls.user,
        "CHRONOHOOK_KAFKA_SASL_PASSWORD": cluster.tls.password,
        "CHRONOHOOK_KAFKA_SSL_CA_LOCATION": str(cluster.tls.ca),
    }


@pytest.fixture(scope="module")
def secured_stack(
    cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[SecuredStack]:
    """The four services, configured by settings alone to reach the cluster over SASL_SSL."""
    data_dir = tmp_path_factory.mktemp("secured")
    env = services_env(data_dir, cluster.bootstrap, free_port(), f"cluster-{secrets.token_hex(4)}")
    env.update(security_env(cluster))
    with pytest.MonkeyPatch.context() as m:  # the settings as each service builds them: from its environment
        for key, value in env.items():
            if key.startswith("CHRONOHOOK_"):
                m.setenv(key, value)
        settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    token = create_token(engine, "tenant-a")
    engine.dispose()
    with running_services(env, data_dir, token, receiver, "/cluster-warmup") as supervisor:
        yield SecuredStack(settings, supervisor, f"http://127.0.0.1:{settings.api_port}", token, env)


def test_topics_are_replicated_three_times_with_two_in_sync(secured_stack: SecuredStack) -> None:
    # Given the stack created its topics on a 3-broker cluster with no replication setting
    settings = secured_stack.settings
    admin = AdminClient(admin_config(settings))
    topics = Topics.from_settings(settings)
    names = [topics.events, topics.timer_state, topics.dead_records, topics.queue_settings]
    # When the topics are described
    metadata = admin.list_topics(timeout=30)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in names]
    configs = {r.name: f.result(30) for r, f in admin.describe_configs(resources).items()}
    # Then each partition has 3 replicas and each topic min.insync.replicas 2
    for name in names:
        assert {len(p.replicas) for p in metadata.topics[name].partitions.values()} == {3}, name
        assert configs[name]["min.insync.replicas"].value == "2", name


def test_the_faust_follower_reads_the_cluster_with_the_services_settings(
    secured_stack: SecuredStack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a job that went all the way through the secured stack
    with httpx.Client(
        base_url=secured_stack.base_url, headers={"Authorization": f"Bearer {secured_stack.token}"}, timeout=10
    ) as c:
        r = c.post("/api/jobs", json={"queue": "faust", "url": receiver.url("/cluster-faust")})
        assert r.status_code == 201, r.text
    job_id = f"rj_{r.json()['job_id']}"
    receiver.wait_for(lambda q: q.path == "/cluster-faust", timeout=60)
    assert Path(SUBSCRIBERS_PYTHON).exists(), f"{SUBSCRIBERS_PYTHON} is missing: `make install` makes it"
    # When the faust example runs with the services' connection settings alone (no --bootstrap: from the settings)
    for key, value in secured_stack.env.items():
        if key.startswith("CHRONOHOOK_KAFKA_"):
            monkeypatch.setenv(key, value)
    topic = Topics.from_settings(secured_stack.settings).events
    group = f"{secured_stack.settings.topic_prefix}.faust-{secrets.token_hex(3)}"
    args = ["--topic", topic, "--group", group, "--from", "earliest"]
    proc = FollowerProcess("examples.subscribers.faust_follower", args, tmp_path / "faust.log", str(SUBSCRIBERS_PYTHON))
    try:
        # Then it authenticates over SASL_SSL and prints the job's events in order
        eventually(
            lambda: len(proc.types_of(job_id)) >= 3 or proc.proc.poll() is not None,
            timeout=60,
            what="the faust follower printing the job's events",
        )
        assert proc.types_of(job_id) == ["JobPushed", "JobDue", "JobSucceeded"], (
            proc.lines[-10:],
            (tmp_path / "faust.log").read_text()[-3000:],
        )
        assert proc.stop() == 0
    finally:
        proc.close()


def _leader_of_most(settings: Settings, topic: str) -> int:
    metadata = AdminClient(admin_config(settings)).list_topics(topic, timeout=30)
    leaders = Counter(p.leader for p in metadata.topics[topic].partitions.values())
    return leaders.most_common(1)[0][0]


def _job_dues(settings: Settings, marker: str) -> Counter[str]:
    """JobDue records per job whose request goes to a path holding ``marker``, read over SASL_SSL to the end."""
    topic = Topics.from_settings(settings).events
    group = f"{settings.topic_prefix}.test-{secrets.token_hex(4)}"
    consumer = Consumer(consumer_config(settings, group, **{"enable.partition.eof": True}))
    counts: Counter[str] = Counter()
    at_end: set[int] = set()
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(settings.partitions)])
        deadline = time.monotonic() + 60
        while len(at_end) < settings.partitions and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                error = msg.error()
                if error is not None:
                    partition = msg.partition()
                    if error.code() == KafkaError._PARTITION_EOF and partition is not None:
                        at_end.add(partition)
                    continue
                if dict(msg.headers() or []).get(TYPE_HEADER) == b"JobDue" and marker.encode() in (msg.value() or b""):
                    counts[(msg.key() or b"").decode()] += 1
    finally:
        consumer.close()
    assert len(at_end) == settings.partitions, "the job log was not read to its end in 60 s"
    return counts


def test_killing_the_job_logs_leader_mid_stream_loses_nothing(
    secured_stack: SecuredStack, cluster: LocalCluster, receiver: Receiver
) -> None:
    # Given JOBS jobs due over the next SPREAD_S seconds, accepted through the API
    marker = f"/kill-leader-{secrets.token_hex(3)}/"
    with httpx.Client(
        base_url=secured_stack.base_url, headers={"Authorization": f"Bearer {secured_stack.token}"}, timeout=10
    ) as c:
        for i in range(JOBS):
            delay = 3 + (i * SPREAD_S) // JOBS
            r = c.post("/api/jobs", json={"queue": "cluster", "url": receiver.url(f"{marker}{i}"), "delay": delay})
            assert r.status_code == 201, r.text
    started = time.monotonic()
    # When, once deliveries have begun, the broker leading most of the job log's partitions is killed (SIGKILL)
    receiver.wait_for(lambda q: q.path.startswith(marker), count=JOBS // 10, timeout=60)
    victim = _leader_of_most(secured_stack.settings, Topics.from_settings(secured_stack.settings).events)
    cluster.kill(victim)
    killed_after = time.monotonic() - started
    before = len({q.path for q in receiver.matching(lambda q: q.path.startswith(marker))})
    assert before < JOBS, "every job was delivered before the kill: not mid-stream"

    # Then every job is delivered (the cluster goes on with 2 brokers, min.insync.replicas 2)
    receiver.wait_for(lambda q: q.path.startswith(marker), count=JOBS, timeout=180)

    def all_paths() -> bool:
        return {q.path for q in receiver.matching(lambda q: q.path.startswith(marker))} == {
            f"{marker}{i}" for i in range(JOBS)
        }

    eventually(all_paths, timeout=180, interval=0.2, what="every job delivered at least once")
    # And every duplicate carries the webhook-id of the first copy
    received = receiver.matching(lambda q: q.path.startswith(marker))
    ids: dict[str, set[str]] = {}
    for q in received:
        ids.setdefault(q.path, set()).add(next((v for k, v in q.headers.items() if k.lower() == "webhook-id"), ""))
    assert all(len(v) == 1 for v in ids.values()), {p: v for p, v in ids.items() if len(v) > 1}
    duplicates = len(received) - JOBS
    print(
        f"killed broker {victim} {killed_after:.1f} s after the creates, {before} of {JOBS} jobs delivered; "
        f"0 lost, {duplicates} duplicate deliveries"
    )
    # And no occurrence was decided twice: one JobDue per job
    dues = _job_dues(secured_stack.settings, marker)
    assert len(dues) == JOBS and set(dues.values()) == {1}, dues.most_common(3)
