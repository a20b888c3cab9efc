"""``/api/signing-secret`` through FastAPI's TestClient (in-memory log, SQLite in tmp_path, a fixed clock)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store import signing_secrets as store
from chronohook.store.tokens import create_token
from services.ingest.app import build_context, create_app
from services.ingest.context import IngestContext

NOW = datetime(2026, 12, 2, 4, 0, 0, tzinfo=UTC)
PATH = "/api/signing-secret"
RECURO_SECRET = "rk_live_4f9a8b7c6d5e4f3a2b1c"


@dataclass
class Api:
    client: TestClient
    ctx: IngestContext
    clock: FixedClock
    t1: dict[str, str]
    t2: dict[str, str]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    clock = FixedClock(NOW)
    ctx = build_context(Settings(data_dir=tmp_path), clock, log=InMemoryEventLog())
    t1 = create_token(ctx.engine, "t1")
    t2 = create_token(ctx.engine, "t2")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, ctx, clock, {"Authorization": f"Bearer {t1}"}, {"Authorization": f"Bearer {t2}"})


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"secret", "created_at", "previous_expires_at", "recuro_compat", "recuro_secret"}
    return body


def _laravel_422(response: Any, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "errors"} and field in body["errors"], body
    return body


def test_get_makes_the_secret_on_first_use_and_answers_the_same_after(api: Api) -> None:
    # When tenant t1 reads its secret twice
    first = _ok(api.client.get(PATH, headers=api.t1))
    again = _ok(api.client.get(PATH, headers=api.t1))
    # Then it is one whsec_ secret, made now, with no previous one and Recuro's pair off
    assert first == again
    assert first["secret"].startswith("whsec_")
    assert first["created_at"] == "2026-12-02T04:00:00+00:00"
    assert first["previous_expires_at"] is None and first["recuro_compat"] is False and first["recuro_secret"] is None
    # And another tenant has another secret
    assert _ok(api.client.get(PATH, headers=api.t2))["secret"] != first["secret"]


def test_the_secret_needs_a_token(api: Api) -> None:
    assert api.client.get(PATH).status_code == 401
    assert api.client.post(f"{PATH}/rotate").status_code == 401


def test_rotate_keeps_the_old_one_for_24_hours_by_default(api: Api) -> None:
    # Given t1's secret
    old = _ok(api.client.get(PATH, headers=api.t1))["secret"]
    # When rotating without a body
    api.clock.advance(60)
    rotated = _ok(api.client.post(f"{PATH}/rotate", headers=api.t1))
    # Then a new secret, the old one signing beside it for 24 hours
    assert rotated["secret"] != old and rotated["secret"].startswith("whsec_")
    assert rotated["created_at"] == "2026-12-02T04:01:00+00:00"
    assert rotated["previous_expires_at"] == "2026-12-03T04:01:00+00:00"
    keys = store.signing_keys(api.ctx.engine, "t1", api.clock.now())
    assert keys.previous == old
    # And t2's secret is untouched
    assert store.signing_keys(api.ctx.engine, "t2", api.clock.now()).previous is None


@pytest.mark.parametrize(
    ("kwargs", "expires"),
    [
        ({"json": {"grace_seconds": 600}}, "2026-12-02T04:10:00+00:00"),
        ({"params": {"grace_seconds": 3600}}, "2026-12-02T05:00:00+00:00"),
        ({"json": {"grace_seconds": 0}}, None),
    ],
)
def test_rotate_takes_a_shorter_grace_period(api: Api, kwargs: dict[str, Any], expires: str | None) -> None:
    rotated = _ok(api.client.post(f"{PATH}/rotate", headers=api.t1, **kwargs))
    assert rotated["previous_expires_at"] == expires


@pytest.mark.parametrize("grace", [-1, 86_401, "soon", 1.5])
def test_rotate_refuses_a_grace_period_out_of_bounds(api: Api, grace: Any) -> None:
    _laravel_422(api.client.post(f"{PATH}/rotate", headers=api.t1, json={"grace_seconds": grace}), "grace_seconds")
    before = store.signing_keys(api.ctx.engine, "t1", api.clock.now())
    assert before.previous is None


def test_import_a_recuro_secret_and_switch_recuros_pair_on(api: Api) -> None:
    # Given t1's generated secret
    generated = _ok(api.client.get(PATH, headers=api.t1))["secret"]
    # When importing the secret its receivers verify, with Recuro's pair on
    body = _ok(api.client.put(PATH, headers=api.t1, json={"recuro_compat": True, "secret": RECURO_SECRET}))
    # Then Recuro's recipe keys with it as given, and Standard Webhooks with its bytes, shown in whsec_ form
    assert body["recuro_compat"] is True and body["recuro_secret"] == RECURO_SECRET
    assert body["secret"] == "whsec_cmtfbGl2ZV80ZjlhOGI3YzZkNWU0ZjNhMmIxYw=="
    assert body["previous_expires_at"] == "2026-12-03T04:00:00+00:00"
    assert store.signing_keys(api.ctx.engine, "t1", NOW).previous == generated
    # And switching the pair off keeps the secret
    off = _ok(api.client.put(PATH, headers=api.t1, json={"recuro_compat": False}))
    assert off["recuro_compat"] is False and off["recuro_secret"] is None and off["secret"] == body["secret"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "secret"),
        ({"secret": "short"}, "secret"),
        ({"secret": "with spaces in the secret"}, "secret"),
        ({"secret": 12345678901234567890}, "secret"),
        ({"secret": "whsec_!!notbase64!!"}, "secret"),
        ({"recuro_compat": "yes"}, "recuro_compat"),
        ({"secret": RECURO_SECRET, "grace_seconds": 100_000}, "grace_seconds"),
    ],
)
def test_put_refuses_bad_input_in_laravels_shape_and_never_echoes_the_secret(
    api: Api, body: dict[str, Any], field: str
) -> None:
    answer = _laravel_422(api.client.put(PATH, headers=api.t1, json=body), field)
    secret = body.get("secret")
    if isinstance(secret, str):
        assert secret not in str(answer)
    assert store.signing_keys(api.ctx.engine, "t1", NOW).recuro_compat is False


def test_a_rotation_after_import_keeps_recuro_compat(api: Api) -> None:
    _ok(api.client.put(PATH, headers=api.t1, json={"recuro_compat": True, "secret": RECURO_SECRET}))
    api.clock.advance(timedelta(hours=1).total_seconds())
    rotated = _ok(api.client.post(f"{PATH}/rotate", headers=api.t1))
    assert rotated["recuro_compat"] is True and rotated["recuro_secret"] == rotated["secret"]
