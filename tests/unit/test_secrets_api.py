"""Secrets at rest through the ingest app (decision 0044): what the log gets is sealed, what every answer shows is
masked, secret reads are never cached, and an SQL error never prints a bound secret."""

from __future__ import annotations

import base64
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from chronohook.cli import app
from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import PROJECTOR_CONSUMER, Consumed
from chronohook.sealing import MASK, KeyRing, SecretKeyMissing, generate_key, is_sealed, key_id, parse_key
from chronohook.settings import Settings
from chronohook.store.engine import make_engine
from chronohook.store.tokens import create_token
from schemas.codec import decode_event
from schemas.events import JobCreated, JobPushed, JobUpdated
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KEY = generate_key()
SECRET = "Bearer s3cret-value-that-must-not-leak"


@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    log: InMemoryEventLog
    auth: dict[str, str]

    def project(self) -> None:
        batch = [Consumed(self.ctx.topic, 0, i, decode_event(v)) for i, (_, v, _) in enumerate(self.log.records)]
        self.ctx.store.apply(PROJECTOR_CONSUMER, batch, NOW)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app with a secret key, on an in-memory log
    log = InMemoryEventLog()
    ctx = build_context(Settings(data_dir=tmp_path, secret_key=SecretStr(KEY)), FixedClock(NOW), log=log)
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
        yield Api(client, ctx, log, {"Authorization": f"Bearer {token}"})


def _no_clear(api: Api, *values: str) -> None:
    """Neither the log's bytes nor the read model's database file hold any of ``values``."""
    raw = b"".join(value for _, value, _ in api.log.records)
    db = b"".join(p.read_bytes() for p in api.ctx.settings.data_dir.glob("chronohook.db*"))
    for value in values:
        assert value.encode() not in raw, f"{value!r} in clear in the log"
        assert value.encode() not in db, f"{value!r} in clear in the read model's database"


def test_quedup_job_sealed_in_the_log_masked_in_every_answer(api: Api) -> None:
    # When a QuedUp job is created with an Authorization header and a header of its own it calls sensitive
    body = {
        "method": "POST", "name": "n", "url": "https://example.com/hook",
        "headers": {"Authorization": SECRET, "X-Sig": "sig-value-private", "Accept": "json"},
        "sensitive_headers": ["X-Sig"], "schedule": "0 * * * *",
    }  # fmt: skip
    r = api.client.post("/jobs", json=body, headers=api.auth)
    assert r.status_code == 200, r.text
    # Then the answer masks both, and shows the ordinary header
    assert r.json()["headers"] == {"Authorization": MASK, "X-Sig": MASK, "Accept": "json"}
    # And the event holds both sealed
    [event] = [decode_event(v) for _, v, _ in api.log.records]
    assert isinstance(event, JobCreated)
    assert is_sealed(event.request.headers["Authorization"]) and is_sealed(event.request.headers["X-Sig"])
    api.project()
    job_id = r.json()["id"]
    # And GET, the list and the history show them masked
    for path in (f"/jobs/{job_id}", "/jobs", f"/jobs/{job_id}/events"):
        got = api.client.get(path, headers=api.auth)
        assert got.status_code == 200, got.text
        assert "s3cret" not in got.text and "sig-value" not in got.text and MASK in got.text, path
    # And a PATCH that leaves the headers alone keeps them sealed (not sealed twice, still openable)
    r = api.client.patch(f"/jobs/{job_id}", json={"name": "renamed"}, headers=api.auth)
    assert r.status_code == 200, r.text
    updated = decode_event(api.log.records[-1][1])
    assert isinstance(updated, JobUpdated)
    assert KeyRing.of(KEY).open(updated.request.headers["Authorization"], "t1", "Authorization") == SECRET
    _no_clear(api, SECRET, "sig-value-private")


def test_recuro_push_takes_its_queues_sensitive_headers(api: Api) -> None:
    # Given a queue whose settings name X-Queue-Token sensitive
    r = api.client.patch("/api/queues/q1", json={"sensitive_headers": ["X-Queue-Token"]}, headers=api.auth)
    assert r.status_code == 200, r.text
    assert r.json()["sensitive_headers"] == ["X-Queue-Token"]
    api.project()
    # When a job is pushed to it with that header and an X-Api-Key
    push = {
        "queue": "q1",
        "url": "https://example.com/p",
        "headers": {"X-Queue-Token": "qt-private", "X-Api-Key": "ak-private"},
    }
    r = api.client.post("/api/jobs", json=push, headers=api.auth)
    assert r.status_code == 201, r.text
    # Then both are sealed in the pushed event, and the job answers them masked
    pushed = [e for e in (decode_event(v) for _, v, _ in api.log.records) if isinstance(e, JobPushed)][-1]
    assert all(is_sealed(v) for v in pushed.request.headers.values())
    api.project()
    got = api.client.get(f"/api/jobs/{r.json()['job_id']}", headers=api.auth)
    assert got.json()["headers"] == {"X-Queue-Token": MASK, "X-Api-Key": MASK}
    events = api.client.get(f"/api/jobs/{r.json()['job_id']}/events", headers=api.auth)
    assert "private" not in events.text
    _no_clear(api, "qt-private", "ak-private")


def test_cron_create_and_patch_seal_and_mask(api: Api) -> None:
    cron = {
        "name": "c",
        "url": "https://example.com/c",
        "cron_expression": "*/5 * * * *",
        "headers": {"Cookie": "sid=private1"},
    }
    r = api.client.post("/api/crons", json=cron, headers=api.auth)
    assert r.status_code in (200, 201), r.text
    api.project()
    cron_id = r.json()["id"]
    r = api.client.patch(f"/api/crons/{cron_id}", json={"headers": {"Cookie": "sid=private2"}}, headers=api.auth)
    assert r.status_code == 200, r.text
    assert r.json()["headers"] == {"Cookie": MASK}
    api.project()
    for path in (f"/api/crons/{cron_id}", "/api/crons", f"/api/crons/{cron_id}/events"):
        got = api.client.get(path, headers=api.auth)
        assert got.status_code == 200 and "private" not in got.text, path
    _no_clear(api, "sid=private1", "sid=private2")


def test_signing_secret_answers_are_never_cached(api: Api) -> None:
    for method, path in (("GET", ""), ("POST", "/rotate"), ("PUT", "")):
        body = {"recuro_compat": False} if method == "PUT" else None
        r = api.client.request(method, f"/api/signing-secret{path}", json=body, headers=api.auth)
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store", (method, path)


def test_alert_destination_answers_are_never_cached(api: Api) -> None:
    # A Slack-style incoming webhook URL carries its own credential
    destination = {"url": "https://hooks.example.com/services/T000/B000/secret-part", "format": "slack"}
    put = api.client.put("/api/alert-destination", json=destination, headers=api.auth)
    assert put.status_code == 200, put.text
    api.project()
    got = api.client.get("/api/alert-destination", headers=api.auth)
    assert got.status_code == 200, got.text
    assert put.headers["cache-control"] == got.headers["cache-control"] == "no-store"


def test_a_database_error_during_a_rotation_logs_no_secret(api: Api) -> None:
    # Given a tenant with a secret imported from its receivers
    imported = "whsec_" + base64.b64encode(b"secret-that-must-not-leak-123456").decode()
    r = api.client.put("/api/signing-secret", json={"secret": imported}, headers=api.auth)
    assert r.status_code == 200, r.text
    # And a database that fails every change of the secrets' table
    with api.ctx.engine.begin() as conn:
        conn.execute(
            text("CREATE TRIGGER refuse BEFORE UPDATE ON signing_secrets BEGIN SELECT RAISE(ABORT, 'refused'); END")
        )
    other = "whsec_" + base64.b64encode(b"another-secret-never-to-be-seen!").decode()
    strict = TestClient(api.client.app, raise_server_exceptions=True)
    for method, path, body in (("POST", "/rotate", None), ("PUT", "", {"secret": other})):
        # When the secret is rotated or replaced (the failing UPDATE binds the old secret, and the new one)
        with pytest.raises(DBAPIError) as caught:
            strict.request(method, f"/api/signing-secret{path}", json=body, headers=api.auth)
        # Then what the server would log (the error and its traceback) names the failure and holds no secret
        logged = "".join(traceback.format_exception(caught.value))
        assert "refused" in logged and "hidden due to hide_parameters" in logged
        for secret in (imported, other):
            assert secret.removeprefix("whsec_") not in logged, (method, path)


def test_hide_parameters_is_set_on_every_engine(tmp_path: Path) -> None:
    assert make_engine(f"sqlite:///{tmp_path / 'x.db'}").hide_parameters
    assert make_engine("postgresql+psycopg://u:p@127.0.0.1:1/db").hide_parameters


def test_a_real_ingest_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    # Given no CHRONOHOOK_SECRET_KEY (and no CHRONOHOOK_SECRETS_IN_CLEAR), When a real ingest is built (no test log)
    settings = Settings(data_dir=tmp_path, secret_key=None)
    # Then it refuses, naming the setting, before it connects to anything
    with pytest.raises(SecretKeyMissing, match="CHRONOHOOK_SECRET_KEY"):
        build_context(settings, FixedClock(NOW))


def test_secrets_usage_counts_the_jobs_each_key_sealed(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two jobs sealed under the stack's key and one with no sensitive header
    for n, headers in enumerate(({"Authorization": SECRET}, {"Cookie": "c=1", "X-Api-Key": "k"}, {"Accept": "json"})):
        body = {"method": "POST", "name": f"u{n}", "url": "https://example.com/u", "headers": headers}
        assert api.client.post("/jobs", json=body, headers=api.auth).status_code == 200
    api.project()
    # When the key was rotated (the old one retired) and an operator asks which keys are in use
    new = generate_key()
    monkeypatch.setenv("CHRONOHOOK_DATA_DIR", str(api.ctx.settings.data_dir))
    monkeypatch.delenv("CHRONOHOOK_DATABASE_URL", raising=False)
    monkeypatch.setenv("CHRONOHOOK_SECRET_KEY", new)
    monkeypatch.setenv("CHRONOHOOK_SECRET_KEYS_RETIRED", KEY)
    out = CliRunner().invoke(app, ["secrets", "usage"])
    # Then the retired key still seals two jobs (it cannot be dropped yet), the new one none
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        f"{key_id(parse_key(new))} (current): 0 jobs",
        f"{key_id(parse_key(KEY))} (retired): 2 jobs",
    ]
    # And without the old key configured, the jobs it sealed are named as unsendable
    monkeypatch.delenv("CHRONOHOOK_SECRET_KEYS_RETIRED")
    out = CliRunner().invoke(app, ["secrets", "usage"])
    assert f"{key_id(parse_key(KEY))} (not configured" in out.output
