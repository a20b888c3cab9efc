"""Every API verb of the CLI (docs/cli.md) round-trips against the real stack through typer's CliRunner, its --json
output parses, and each failure has its exit status; ``chronohook receiver`` receives a real delivery and verifies
its signature. A tenant of its own, so rotating its secret touches no other test."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from chronohook_client import Client
from typer.testing import CliRunner

from chronohook.cli import app
from chronohook.commands.api import Exit
from chronohook.store.engine import make_engine
from chronohook.store.tokens import create_token
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.ports import free_port
from tests.support.receiver import RECEIVER_HOST, Receiver

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Cli:
    url: str
    token: str
    runner: CliRunner

    def run(self, *args: str, code: int = 0) -> str:
        """Run ``chronohook ARGS`` with the stack's URL and this tenant's token; check the exit status."""
        env = {"CHRONOHOOK_URL": self.url, "CHRONOHOOK_TOKEN": self.token}
        result = self.runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, f"{args}: {result.exit_code}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))


@pytest.fixture(scope="module")
def cli(stack: Stack) -> Cli:
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        token = create_token(engine, f"cli-{secrets.token_hex(3)}", "cli tests")
    finally:
        engine.dispose()
    return Cli(stack.base_url, token, CliRunner())


def later() -> str:
    return (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_jobs_verbs_round_trip(cli: Cli) -> None:
    # Given a Recuro job and a QuedUp job created through the CLI
    queue = f"cli-{secrets.token_hex(3)}"
    pushed = cli.json(
        "jobs", "create", "https://example.com/r", "--queue", queue, "--run-at", later(), "--payload", '{"a": 1}'
    )
    quedup = cli.json(
        "jobs", "create", "https://example.com/q", "--name", f"n-{queue}", "--run-at", later(), "--header", "X-A: b"
    )
    # When each is read back, Then it is the job created
    assert cli.json("jobs", "get", str(pushed["job_id"]))["queue"] == queue
    assert cli.json("jobs", "get", quedup["id"])["headers"] == {"X-A": "b"}
    listed = {(j["api"], j["id"]) for j in cli.json("jobs", "list")}
    assert {("quedup", quedup["id"]), ("recuro", pushed["job_id"])} <= listed
    assert {j["api"] for j in cli.json("jobs", "list", "--api", "quedup")} == {"quedup"}
    table = cli.run("jobs", "list")  # the tables too
    assert quedup["id"] in table and str(pushed["job_id"]) in table
    # And the QuedUp job pauses, resumes and is deleted; then it is not found (exit 3)
    assert cli.json("jobs", "pause", quedup["id"])["status"] == "paused"
    assert cli.json("jobs", "resume", quedup["id"])["status"] == "active"
    cli.run("jobs", "delete", quedup["id"])
    cli.run("jobs", "get", quedup["id"], code=Exit.not_found)
    # And a Recuro job cannot be paused or deleted: a usage error (exit 2) saying why
    cli.run("jobs", "delete", str(pushed["job_id"]), code=Exit.usage)
    cli.run("jobs", "create", "https://example.com/", "--queue", "q", "--name", "n", code=Exit.usage)


def test_recuro_jobs_list(cli: Cli) -> None:
    # Given two Recuro jobs in a queue of their own
    queue = f"cli-list-{secrets.token_hex(3)}"
    made = {
        cli.json("jobs", "create", "https://example.com/", "--queue", queue, "--run-at", later())["job_id"]
        for _ in range(2)
    }
    # When listed by queue, Then both are there
    assert {j["id"] for j in cli.json("jobs", "list", "--queue", queue)} == made


def test_queues_and_crons_verbs_round_trip(cli: Cli) -> None:
    # Given a queue made by a push
    queue = f"cli-q-{secrets.token_hex(3)}"
    cli.run("jobs", "create", "https://example.com/", "--queue", queue, "--run-at", later())
    # Then it is listed, read, paused and resumed
    assert queue in {q["name"] for q in cli.json("queues", "list")}
    assert cli.json("queues", "get", queue)["name"] == queue
    assert cli.json("queues", "pause", queue)["is_active"] is False
    assert cli.json("queues", "resume", queue)["is_active"] is True
    cli.run("queues", "get", "no-such-queue", code=Exit.not_found)
    # Given a cron made through the CLI
    cron = cli.json(
        "crons", "create", f"c-{queue}", "https://example.com/c", "--cron", "0 3 * * *", "--timezone", "Europe/London"
    )
    # Then it is listed, read, paused, resumed and deleted
    assert cron["id"] in {c["id"] for c in cli.json("crons", "list")}
    assert cli.json("crons", "get", str(cron["id"]))["timezone"] == "Europe/London"
    assert cli.json("crons", "pause", str(cron["id"]))["next_run_at"] is None
    assert cli.json("crons", "resume", str(cron["id"]))["is_active"] is True
    cli.run("crons", "delete", str(cron["id"]))
    cli.run("crons", "get", str(cron["id"]), code=Exit.not_found)
    # And an invalid cron is refused by the API: exit 1, the field named
    cli.run("crons", "create", "bad", "https://example.com/", "--cron", "not a cron", code=Exit.refused)


def test_dead_letters_and_signing_secret_verbs_round_trip(cli: Cli, receiver: Receiver) -> None:
    # Given dead letters on two queues that retry once (jobs answered 500): four on one, one on the other
    queue, other = f"cli-dl-{secrets.token_hex(3)}", f"cli-dl-{secrets.token_hex(3)}"
    with Client(cli.url, cli.token) as c:
        for name, count in ((queue, 4), (other, 1)):
            c.queues.update(name, retry_delays=[1])
            for i in range(count):
                c.jobs.create(queue=name, url=receiver.url(f"/status/500/{name}/{i}"))
        for name, count in ((queue, 4), (other, 1)):
            eventually(
                lambda n=name, k=count: len(c.dead_letters.list(queue=n).all()) == k,  # type: ignore[misc]
                timeout=60,
                interval=0.5,
                what="dead letters",
            )
    letters = cli.json("dead-letters", "list", "--queue", queue)
    assert len(letters) == 4 and "JOB_ID" in cli.run("dead-letters", "list")
    first, second, *rest = sorted(d["job_id"] for d in letters)
    # When one is replayed by id, Then it becomes a fresh job
    one = cli.json("dead-letters", "replay", str(first))
    assert one["count"] == 1 and one["jobs"][0]["replay_of"] == first
    # When one is purged by id, Then it is listed no more
    assert cli.json("dead-letters", "purge", str(second)) == {"purged": 1, "job_ids": [second]}
    # When the queue's are replayed in bulk, Then the two left are
    bulk = cli.json("dead-letters", "replay", "--queue", queue)
    assert sorted(j["replay_of"] for j in bulk["jobs"]) == rest
    # When the other queue's are purged, Then its one dead letter is gone
    assert cli.json("dead-letters", "purge", "--queue", other)["purged"] == 1
    assert cli.json("dead-letters", "list", "--queue", other) == []
    cli.run("dead-letters", "replay", code=Exit.usage)
    # And the signing secret shows, and rotates to a new one
    shown = cli.json("signing-secret", "show")
    rotated = cli.json("signing-secret", "rotate", "--grace-seconds", "0")
    assert shown["secret"].startswith("whsec_") and rotated["secret"] != shown["secret"]
    assert rotated["secret"] in cli.run("signing-secret", "show")


def test_failures_have_their_exit_status(cli: Cli) -> None:
    # A bad token: the API refuses (exit 1); an API that is not there: exit 4; --version: exit 0
    bad = Cli(cli.url, "chk_not-a-token", cli.runner)
    bad.run("queues", "list", code=Exit.refused)
    away = Cli(f"http://127.0.0.1:{free_port()}", cli.token, cli.runner)
    away.run("queues", "list", code=Exit.unavailable)
    assert cli.run("--version").startswith("chronohook ")


def test_the_receiver_prints_and_verifies_a_real_delivery(stack: Stack) -> None:
    # Given a tenant of its own (the others' secrets rotate in the tests above; a sender may sign with a rotated-out
    # secret for up to 5 s, decision 0018)
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        cli = Cli(stack.base_url, create_token(engine, f"cli-rx-{secrets.token_hex(3)}", "receiver test"), CliRunner())
    finally:
        engine.dispose()
    # And `chronohook receiver` on an address the stack may send to, answering 202, stopping after one request
    env = dict(os.environ, CHRONOHOOK_URL=cli.url, CHRONOHOOK_TOKEN=cli.token)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "clients" / "python"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "chronohook.cli", "receiver", "--host", RECEIVER_HOST, "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--status", "202", "--count", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        banner = proc.stdout.readline()
        assert "listening on" in banner and "tenant's signing secret" in banner, banner + proc.stderr.read()
        address = banner.split("listening on ", 1)[1].split()[0]
        # When a job is pushed to it
        with Client(cli.url, cli.token) as c:
            pushed = c.jobs.create(queue="cli-receiver", url=f"{address}hello", payload={"hi": 1})
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Then it printed the request, its signature verified, and answered 202
    assert proc.returncode == 0, err
    assert "POST /hello" in out and "webhook-signature:" in out.lower() and '{"hi":1}' in out.replace(" ", "")
    assert "signature: verified" in out and "answered 202" in out
    assert str(pushed.job_id) in out  # the run id header names the job
