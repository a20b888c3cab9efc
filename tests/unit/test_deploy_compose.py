"""The compose files are what they claim, without a Docker engine: well formed, every CHRONOHOOK_* variable a real
setting with a valid value (chronohook's Settings built from each service's environment, as the container would),
the Kafka cluster replicated and authenticated as chronohook is told it is, and deploy/docker/README.md's job
accepted by the API as written.

Each file is also loaded by compose-go, the library docker compose itself loads files with (interpolation, the
compose-spec schema, merges): deploy/tools/composecheck, built by `make test-deps` into a per-user cache. Without it
that test skips when run by hand, and fails under `make test` (CHRONOHOOK_REQUIRE_POSTGRES=1, decision 0041)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from chronohook.broker import BROKER_LIMITS, REPO_ROOT
from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from services.ingest.app import build_context, create_app
from tests.support.postgres import REQUIRE

DEPLOY = REPO_ROOT / "deploy" / "docker"
CLUSTER = DEPLOY / "compose.yml"
QUICK_START = REPO_ROOT / "docker-compose.yml"
TOP_LEVEL = {"name", "services", "volumes", "networks", "configs", "secrets"}
SETTINGS_VARIABLES = {f"CHRONOHOOK_{name.upper()}" for name in Settings.model_fields}

_VARIABLE = re.compile(r"\$\$|\$\{(?P<braced>[^}]+)\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)")


def env_example() -> dict[str, str]:
    """deploy/docker/env.example, as the README has the user copy it to .env."""
    values: dict[str, str] = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$`` is a ``$``; ``${X}``, ``${X:-default}``, ``${X-default}``, ``${X:?error}``,
    ``${X?error}`` and ``$X``. A required variable that is unset fails, as ``docker compose`` does."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        expr = match.group("braced") or match.group("plain")
        found = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])(.*))?", expr, re.S)
        assert found, f"unreadable interpolation ${{{expr}}}"
        name, colon, op, arg = found.groups()
        value = variables.get(name)
        missing = value is None or (colon == ":" and value == "")
        if op == "?" and missing:
            raise AssertionError(f"{name} is required: {arg}")
        if op == "-" and missing:
            return str(arg)
        return value or ""

    return _VARIABLE.sub(one, text)


def load(path: Path, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    document = yaml.safe_load(interpolate(path.read_text(), variables or {}))
    assert isinstance(document, dict)
    return document


def dockerfile_env() -> dict[str, str]:
    """The CHRONOHOOK_* defaults the image sets (its ENV instruction)."""
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for word in shlex.split(line[4:]):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def chronohook_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image", "").startswith("chronohook") or "build" in service
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CHRONOHOOK_* variable from the test run leaks into the settings built from a compose file."""
    for name in list(os.environ):
        if name.startswith("CHRONOHOOK_"):
            monkeypatch.delenv(name)
    return monkeypatch


COMPOSE_FILES = [pytest.param(CLUSTER, id="deploy-docker-compose"), pytest.param(QUICK_START, id="root-quick-start")]


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_the_compose_file_is_well_formed(path: Path) -> None:
    # Given a compose file read as docker compose would, with the example .env
    compose = load(path, env_example())
    # Then it holds only compose's top-level keys (and x- extensions), and every service runs something
    assert set(compose) - TOP_LEVEL <= {k for k in compose if k.startswith("x-")}, set(compose)
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        # And every named volume it mounts is declared, every dependency is a service
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, (name, source)
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], (name, dependency)
        # And published ports are HOST:CONTAINER (a host range for a scaled service)
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d+(-\d+)?:\d+", str(port)), (name, port)
            host = str(port).split(":")[0]
            if "-" in host:
                low, high = map(int, host.split("-"))
                assert high - low + 1 >= service.get("deploy", {}).get("replicas", 1), (name, port)
        if "build" in service:
            assert (path.parent / service["build"]["context"] / service["build"]["dockerfile"]).is_file(), name


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_every_chronohook_variable_is_a_real_setting_with_a_valid_value(
    path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    # Given each chronohook service of the compose file, with the image's defaults under its environment
    compose = load(path, env_example())
    services = chronohook_services(compose)
    assert {"ingest", "timer", "executor", "projector"} <= set(services)
    for name, service in services.items():
        env = dockerfile_env() | environment(service)
        # Then every CHRONOHOOK_* name is a field of chronohook's Settings (extra ones are silently ignored there)
        unknown = {k for k in env if k.startswith("CHRONOHOOK_")} - SETTINGS_VARIABLES
        assert not unknown, f"{path.name} {name}: {sorted(unknown)} are not settings (chronohook/settings.py)"
        # And the settings build from that environment alone, with what the file says
        for key, value in env.items():
            clean_env.setenv(key, value)
        settings = Settings()
        for key in env:
            if key.startswith("CHRONOHOOK_"):
                clean_env.delenv(key)
        assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://"), name
        assert settings.api_host == "0.0.0.0", name
        assert str(settings.data_dir) == "/data", name
        # And the service runs a real chronohook command
        command = service["command"]
        assert command[0] in {"serve", "tokens"}, (name, command)
        if command[0] == "serve":
            assert command[1] in {"ingest", "timer", "executor", "projector"}, (name, command)


def kafka_nodes(compose: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        name: environment(service)
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("apache/kafka")
    }


def test_the_cluster_is_three_replicated_authenticated_nodes_chronohook_is_told_about(
    clean_env: pytest.MonkeyPatch,
) -> None:
    # Given the cluster compose file
    variables = env_example()
    compose = load(CLUSTER, variables)
    nodes = kafka_nodes(compose)
    # Then it runs three KRaft nodes with distinct ids, each a voter of the quorum
    assert len(nodes) == 3
    assert sorted(int(env["KAFKA_NODE_ID"]) for env in nodes.values()) == [1, 2, 3]
    for name, env in nodes.items():
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert f"{env['KAFKA_NODE_ID']}@{name}:9093" in voters, name
        assert len(voters) == 3
        # And topics default to 3 replicas, 2 in sync, Kafka's own topics too
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3" and env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        # And the broker accepts the records chronohook writes (schemas/topics.py's sizes)
        for prop, value in BROKER_LIMITS.items():
            assert int(env["KAFKA_" + prop.upper().replace(".", "_")]) == value, (name, prop)
        # And clients must authenticate: every listener but the controllers' is SASL
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(","):
            assert protocols[listener.split("://")[0]].startswith("SASL_"), (name, listener)
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"SASL_PLAINTEXT://{name}:9092"

    # And every chronohook service reaches all three over SASL, as a user the brokers accept, replicating as they do
    jaas = next(iter(nodes.values()))["KAFKA_LISTENER_NAME_SASL__PLAINTEXT_PLAIN_SASL_JAAS_CONFIG"]
    for name, service in chronohook_services(compose).items():
        for key, setting in (dockerfile_env() | environment(service)).items():
            clean_env.setenv(key, setting)
        settings = Settings()
        assert sorted(settings.kafka_bootstrap.split(",")) == sorted(f"{n}:9092" for n in nodes), name
        assert settings.kafka_security_protocol == "SASL_PLAINTEXT"
        assert settings.kafka_sasl_mechanism == next(iter(nodes.values()))["KAFKA_SASL_ENABLED_MECHANISMS"]
        assert settings.kafka_sasl_password is not None
        user, password = settings.kafka_sasl_username, settings.kafka_sasl_password.get_secret_value()
        assert f'user_{user}="{password}"' in jaas, name
        assert password == variables["KAFKA_CHRONOHOOK_PASSWORD"]
        assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)

    # And the services are scaled out: several executors, and no more of any consumer than partitions to share
    services = chronohook_services(compose)
    replicas = {name: services[name].get("deploy", {}).get("replicas", 1) for name in services}
    assert replicas["executor"] >= 3 and replicas["ingest"] >= 2 and replicas["timer"] >= 2
    partitions = int(environment(services["executor"])["CHRONOHOOK_PARTITIONS"])
    assert max(replicas["timer"], replicas["executor"], replicas["projector"]) <= partitions


def test_the_cluster_file_needs_its_passwords() -> None:
    # Given no .env (the README's first step skipped)
    # When the file is read as compose reads it
    # Then it is refused, naming the password to set
    with pytest.raises(AssertionError, match="KAFKA_BROKER_PASSWORD"):
        load(CLUSTER, {})


def readme_jobs() -> list[tuple[str, str, dict[str, str], str]]:
    """Each ``curl -X POST ... -d '...'`` of deploy/docker/README.md: (method, URL, headers, body)."""
    text = (DEPLOY / "README.md").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        if not line.strip().startswith("curl ") or " -d " not in line:
            continue
        words = shlex.split(line)
        method, url, headers, body = "GET", "", {}, ""
        i = 1
        while i < len(words):
            word = words[i]
            if word == "-X":
                method, i = words[i + 1], i + 2
            elif word == "-H":
                name, _, value = words[i + 1].partition(":")
                headers[name.strip()] = value.strip()
                i += 2
            elif word == "-d":
                body, i = words[i + 1], i + 2
            elif word.startswith("http"):
                url, i = word, i + 1
            else:
                i += 1
        found.append((method, url, headers, body))
    return found


def test_the_readmes_job_is_accepted_by_the_api_as_written(tmp_path: Path) -> None:
    # Given the ingest app (an in-memory log, a SQLite file) and a token, as `docker compose run --rm tokens` makes
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(datetime(2026, 12, 7, 12, 0, tzinfo=UTC)), log=log)
    token = create_token(ctx.engine, "default")
    jobs = readme_jobs()
    assert jobs, "no curl -d example found in deploy/docker/README.md"
    with TestClient(create_app(ctx)) as client:
        for method, url, headers, body in jobs:
            # When each example request is sent as written, with $TOKEN the token
            path = "/" + url.split("://", 1)[1].split("/", 1)[1]
            sent = {k: v.replace("$TOKEN", token) for k, v in headers.items()}
            response = client.request(method, path, content=body, headers=sent)
            # Then the API accepts it
            assert response.status_code == 201, (url, body, response.text)
    assert len(log.records) == len(jobs)


def composecheck() -> str:
    """CHRONOHOOK_COMPOSECHECK, else where `make test-deps` builds it."""
    path = os.environ.get("CHRONOHOOK_COMPOSECHECK") or str(
        Path.home() / ".cache" / "chronohook" / "tools" / "composecheck" / "composecheck"
    )
    if not Path(path).is_file():
        missing = f"{path} is missing: `make test-deps` builds it (deploy/tools/composecheck)"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    return path


def compose_go(path: Path, *env_files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [composecheck(), str(path), *map(str, env_files)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("CHRONOHOOK_", "KAFKA_", "POSTGRES_"))},
    )


@pytest.mark.parametrize("path", COMPOSE_FILES)
def test_docker_composes_own_loader_accepts_the_file_and_reads_what_this_test_reads(path: Path) -> None:
    # Given the compose file and the example .env (the cluster's passwords; both files' CHRONOHOOK_SECRET_KEY, which
    # the quick start's README has the user export)
    env_files = [DEPLOY / "env.example"]
    # When compose-go loads it (interpolation, the compose-spec schema, merges, normalisation)
    result = compose_go(path, *env_files)
    # Then it is accepted
    assert result.returncode == 0, result.stderr
    project = yaml.safe_load(result.stdout)
    # And every chronohook service gets the environment the other tests built the settings from (a service in a
    # profile, such as the `tokens` one-shot, is loaded only when its profile is asked for)
    ours = load(path, env_example())
    for name, service in chronohook_services(ours).items():
        if "profiles" not in service:
            assert project["services"][name]["environment"] == environment(service), name
    # And the scaled services keep their replicas
    for name, service in ours["services"].items():
        if "deploy" in service:
            assert project["services"][name]["deploy"]["replicas"] == service["deploy"]["replicas"], name


def test_docker_compose_refuses_the_cluster_file_without_its_passwords() -> None:
    # When compose-go loads the cluster file with no .env
    result = compose_go(CLUSTER)
    # Then it refuses, naming a password to set
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD in deploy/docker/.env" in result.stderr or "KAFKA_BROKER_PASSWORD" in result.stderr
