"""Hostile input at the API is a 4xx in the family's shape, never a 500 (issue 14, decision 0031): ids out of range
in a path, NUL in a path or query, JSON nested past ``max_json_depth``, numbers past any bound in a query, and
schedules that never fire in their zone (a 422 counted by the create rate). On SQLite and PostgreSQL.

The client raises any server error (a 500) as an exception, so a test that reaches its assertions got no 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from chronohook.clock import FixedClock
from chronohook.kafka.log import InMemoryEventLog
from chronohook.settings import Settings
from chronohook.store.tokens import create_token
from services.ingest.app import build_context, create_app
from services.ingest.hostile import json_depth, nul_parameters, too_deep
from tests.unit.test_ingest_api import CREATE, NOW, PUSH
from tests.unit.test_ingest_api import Api as ApiWithProjection
from tests.unit.test_ingest_api import api as project_api  # noqa: F401 - the fixture, by another name

CRON = {"name": "nightly", "url": "https://example.com/n", "cron_expression": "0 3 * * *"}
JSON = {"Content-Type": "application/json"}
DEPTH = 64  # Settings().max_json_depth


@dataclass
class Api:
    client: TestClient
    log: InMemoryEventLog
    auth: dict[str, str]


def _api(tmp_path: Path, database_url: str | None = None, **settings: Any) -> Iterator[Api]:
    log = InMemoryEventLog()
    if database_url:
        settings["database_url"] = database_url
    ctx = build_context(Settings(data_dir=tmp_path, **settings), FixedClock(NOW), log=log)
    token = create_token(ctx.engine, "t1")
    with TestClient(create_app(ctx)) as client:
        yield Api(client, log, {"Authorization": f"Bearer {token}"})


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The ingest app on SQLite, then on a throwaway PostgreSQL (skipped where the server is not installed)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    yield from _api(tmp_path, url)


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(tmp_path)


def shape(r: Any, status: int, recuro: bool) -> dict[str, Any]:
    """The answer's body, checked to be the family's error shape with ``status``."""
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert (set(body) - {"errors"}) == ({"message"} if recuro else {"error"}), body
    return body


# -- ids out of range in a path: the family's 404 -------------------------------------------------------------------
ID_ROUTES = [
    ("GET", "/api/jobs/{}"),
    ("GET", "/api/jobs/{}/runs"),
    ("GET", "/api/jobs/{}/events"),
    ("GET", "/api/crons/{}"),
    ("PATCH", "/api/crons/{}"),
    ("DELETE", "/api/crons/{}"),
    ("GET", "/api/crons/{}/runs"),
    ("GET", "/api/crons/{}/events"),
    ("DELETE", "/api/dead-letters/{}"),
    ("POST", "/api/dead-letters/{}/replay"),
]
BAD_IDS = ["9" * 5_000, "9" * 4_301, "9" * 20, "9" * 17, "-1", "abc", "1e5", "0", "9007199254740993"]


@pytest.mark.parametrize(("method", "route"), ID_ROUTES)
def test_an_id_out_of_range_in_a_path_is_a_404(api: Api, method: str, route: str) -> None:
    # Given ids no job can have: past Python's 4,300 digits, past 64 bits, negative, not a number, 0, past 2**53
    for bad in BAD_IDS:
        # When a route with an id in its path is called with it
        r = api.client.request(method, route.format(bad), headers=api.auth, json={} if method == "PATCH" else None)
        # Then Recuro's 404, in its shape
        shape(r, 404, recuro=True)


@pytest.mark.parametrize("path", ["/jobs/{}", "/jobs/{}/runs", "/jobs/{}/events"])
def test_a_quedup_id_of_any_length_is_a_404(api: Api, path: str) -> None:
    for bad in ["9" * 5_000, "-1", "%ff", "%ED%A0%80"]:
        shape(api.client.get(path.format(bad), headers=api.auth), 404, recuro=False)


# -- NUL in a path or a query ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "recuro"),
    [
        ("GET", "/jobs/%00", False),
        ("GET", "/jobs/a%00b/runs", False),
        ("GET", "/jobs/a%00b/events", False),
        ("DELETE", "/jobs/%00", False),
        ("POST", "/jobs/%00/pause", False),
        ("GET", "/api/queues/%00", True),
        ("PATCH", "/api/queues/q%00", True),
        ("GET", "/api/jobs/1%00", True),
    ],
)
def test_nul_in_a_path_is_the_familys_404(api: Api, method: str, path: str, recuro: bool) -> None:
    # When a path holds NUL (PostgreSQL's text cannot; the query was a 500 there)
    r = api.client.request(method, path, headers=api.auth, json={"is_paused": True} if method == "PATCH" else None)
    # Then the family's 404, and nothing was written
    shape(r, 404, recuro)
    assert api.log.records == []


@pytest.mark.parametrize(
    ("path", "field", "recuro"),
    [
        ("/jobs?queue=%00", "queue", False),
        ("/jobs?name=a%00b&limit=5", "name", False),
        ("/api/alerts?queue=%00", "queue", True),
        ("/api/dead-letters?queue=x%00", "queue", True),
        ("/api/crons?page=1&%00=1", "query", True),
    ],
)
def test_nul_in_a_query_is_a_422_on_the_parameter(api: Api, path: str, field: str, recuro: bool) -> None:
    body = shape(api.client.get(path, headers=api.auth), 422, recuro)
    assert body["errors"] == {field: [f"The {field} field must not contain NUL characters."]}


def test_a_token_is_still_checked_first(api: Api) -> None:
    # Given NUL in the path and no token. Then the 401, as for any input error
    r = api.client.get("/jobs/%00")
    assert (r.status_code, r.json()) == (401, {"error": "Missing authorization token"})


@pytest.mark.parametrize(
    ("query", "names"),
    [
        (b"queue=%00", ["queue"]),
        (b"a=1&b=%00&c=%2500", ["b"]),
        (b"%00=1", ["query"]),
        (b"=%0F%00%2F", ["query"]),  # an empty name (found by the OpenAPI fuzz)
        (b"a=%2500", []),  # a literal "%00" text, no NUL
        (b"a=\x00", ["a"]),
        (b"", []),
    ],
)
def test_nul_parameters(query: bytes, names: list[str]) -> None:
    assert nul_parameters(query) == names


# -- JSON nested too deep: a 422 before any parser recurses ----------------------------------------------------------
def nested(levels: int) -> Any:
    """A JSON value ``levels`` deep (1: an empty object)."""
    value: Any = {}
    for i in range(levels - 1):
        value = {"a": value} if i % 2 else [value]
    return value


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"1", 0),
        (b'"[[[["', 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": "]]]]{{"}]}', 3),
        (b'{"a": "\\"[[["}', 1),  # an escaped quote does not end the string
        (b"[" * 100_000 + b"]" * 100_000, 100_000),
        (b"[" * 100_000, 100_000),  # never closed
        (json.dumps(nested(65)).encode(), 65),
        (b'{"a": [] , "b": [[]]}', 3),
    ],
)
def test_json_depth(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def _depth(value: Any) -> int:
    """The nesting depth of a decoded JSON value, the slow and obvious way."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


bracket_text = st.text(alphabet='[]{}"\\ab,:', max_size=8)
json_values = st.recursive(
    st.none() | st.integers() | bracket_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(bracket_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=12), st.booleans())
def test_too_deep_agrees_with_the_decoded_depth(value: Any, limit: int, spaced: bool) -> None:
    # Given any JSON value (strings full of brackets, quotes and backslashes), written compact or spaced
    body = json.dumps(value, indent=1 if spaced else None).encode()
    # Then the scan agrees with the depth of the decoded value, exactly
    assert json_depth(body) == _depth(value)
    assert too_deep(body, limit) is (_depth(value) > limit)


@pytest.mark.parametrize(
    ("path", "wrap", "recuro"),
    [
        ("/api/jobs", lambda deep: PUSH | {"payload": deep}, True),
        ("/api/jobs/batch", lambda deep: {"jobs": [PUSH | {"payload": deep}]}, True),
        ("/api/crons", lambda deep: CRON | {"payload": deep}, True),
        ("/jobs", lambda deep: CREATE | {"body": "x", "headers": {"X": "y"}, "extra": deep}, False),
    ],
    ids=["push", "batch", "cron", "quedup"],
)
def test_a_body_nested_past_the_limit_is_a_422_on_body(sqlite_api: Api, path: str, wrap: Any, recuro: bool) -> None:
    # Given a body one level past the limit (the payload sits under the body's own object)
    body = wrap(nested(DEPTH))
    assert json_depth(json.dumps(body).encode()) > DEPTH
    # When it is posted
    r = sqlite_api.client.post(path, content=json.dumps(body), headers=sqlite_api.auth | JSON)
    # Then a 422 on body, in the family's shape, and nothing was appended
    answer = shape(r, 422, recuro)
    assert answer["errors"] == {"body": [f"The request body must not be nested more than {DEPTH} levels deep."]}
    assert sqlite_api.log.records == []


def test_a_body_at_the_limit_is_accepted(sqlite_api: Api) -> None:
    # Given a push whose payload takes the body to exactly the limit
    body = PUSH | {"payload": nested(DEPTH - 1)}
    assert json_depth(json.dumps(body).encode()) == DEPTH
    # Then it is created
    r = sqlite_api.client.post("/api/jobs", content=json.dumps(body), headers=sqlite_api.auth | JSON)
    assert r.status_code == 201, r.text


@pytest.fixture
def shallow_api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(tmp_path, max_json_depth=4)


def test_the_limit_is_a_setting(shallow_api: Api) -> None:
    # Given max_json_depth=4. When a push's payload takes the body 5 deep, then 4 deep
    deep = shallow_api.client.post(
        "/api/jobs", json=PUSH | {"payload": {"a": {"b": {"c": {}}}}}, headers=shallow_api.auth
    )
    at_limit = shallow_api.client.post("/api/jobs", json=PUSH | {"payload": {"a": {"b": {}}}}, headers=shallow_api.auth)
    # Then the first is refused with the setting's number, the second created
    assert shape(deep, 422, recuro=True)["errors"]["body"] == [
        "The request body must not be nested more than 4 levels deep."
    ]
    assert at_limit.status_code == 201, at_limit.text


# -- numbers past any bound in a query --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "field", "message", "recuro"),
    [
        (f"/api/crons?page={'9' * 5_000}", "page", "The page field is out of range.", True),
        (f"/api/queues?page={'9' * 5_000}", "page", "The page field is out of range.", True),
        (f"/jobs?offset={'9' * 5_000}", "offset", "The offset field is out of range.", False),
        (f"/jobs?limit={'9' * 5_000}", "limit", "The limit field is out of range.", False),
        ("/jobs?limit=-1", "limit", "The limit field must be at least 1.", False),
        ("/api/queues?per_page=-1", "per_page", "The per_page field must be at least 1.", True),
        (f"/api/alerts?cron_id={'9' * 5_000}", "cron_id", "The cron_id field is out of range.", True),
        (
            f"/api/alerts?cron_id={'9' * 40}",
            "cron_id",
            "The cron_id field must not be greater than 9007199254740991.",
            True,
        ),
        (f"/api/signing-secret/rotate?grace_seconds={'9' * 40}", "grace_seconds", None, True),
    ],
)
def test_a_query_number_out_of_range_is_a_422_on_it(
    api: Api, path: str, field: str, message: str | None, recuro: bool
) -> None:
    method = "POST" if "rotate" in path else "GET"
    body = shape(api.client.request(method, path, headers=api.auth), 422, recuro)
    assert list(body["errors"]) == [field]
    if message is not None:
        assert body["errors"][field] == [message]


def test_a_page_past_the_end_within_range_is_an_empty_page(api: Api) -> None:
    r = api.client.get(f"/api/crons?page={'9' * 30}", headers=api.auth)
    assert r.status_code == 200 and r.json()["data"] == []


# -- schedules that never fire in their zone: a 422 on the schedule's field, counted by the create rate -----------
NEVER = [
    ("30 2 * 3 L0", "Europe/Berlin"),  # the last Sunday of March, 02:30: always in Berlin's gap
    ("30 2 * 3 0#2", "America/New_York"),  # the second Sunday of March, 02:30: New York's gap since 2007
    ("* * 2 * 3 L0", "Europe/Berlin"),  # every second of the gap's hour
    ("0 0 30 2 *", "Europe/Berlin"),
]
FIRES = [("30 2 * 3 L0", "UTC"), ("0 9 * * 1-5", "America/New_York"), ("0 0 29 2 *", "UTC"), ("*/2 * * * * *", "UTC")]


def _never_fires(r: Any, field: str, recuro: bool) -> None:
    body = shape(r, 422, recuro)
    [message] = body["errors"][field]
    assert message.startswith(f"The {field} field must be a valid cron expression:"), message
    assert "no occurrence" in message or "never fires" in message, message


@pytest.mark.parametrize(("expression", "timezone"), NEVER)
def test_a_schedule_that_never_fires_in_its_zone_is_a_422(api: Api, expression: str, timezone: str) -> None:
    # When a QuedUp job and a Recuro cron ask for a schedule with no occurrence in its zone
    quedup = api.client.post("/jobs", json=CREATE | {"schedule": expression, "timezone": timezone}, headers=api.auth)
    recuro = api.client.post("/api/crons", json=CRON | {"cron_expression": expression, "timezone": timezone},
                             headers=api.auth)  # fmt: skip
    # Then each is a 422 on its schedule field, in its family's shape, and nothing was appended
    _never_fires(quedup, "schedule", recuro=False)
    _never_fires(recuro, "cron_expression", recuro=True)
    assert api.log.records == []


@pytest.mark.parametrize(("expression", "timezone"), FIRES)
def test_ordinary_schedules_are_accepted(sqlite_api: Api, expression: str, timezone: str) -> None:
    body = {"schedule": expression, "timezone": timezone}
    assert sqlite_api.client.post("/jobs", json=CREATE | body, headers=sqlite_api.auth).status_code == 200
    cron = CRON | {"cron_expression": expression, "timezone": timezone}
    assert sqlite_api.client.post("/api/crons", json=cron, headers=sqlite_api.auth).status_code == 201


def test_put_and_patch_into_a_schedule_that_never_fires_are_422(project_api: ApiWithProjection) -> None:  # noqa: F811
    # Given a QuedUp job and a Recuro cron on 02:30 of March's gap Sundays, in UTC (where they fire)
    a = project_api
    job = a.client.post("/jobs", json=CREATE | {"schedule": "30 2 * 3 0#2"}, headers=a.t1).json()
    cron = a.client.post("/api/crons", json=CRON | {"cron_expression": "30 2 * 3 L0"}, headers=a.t1).json()
    a.project()
    written = len(a.log.records)

    # When only their zone is changed to one where that time never exists, or the job is replaced with it
    patched = a.client.patch(f"/jobs/{job['id']}", json={"timezone": "America/New_York"}, headers=a.t1)
    replaced = a.client.put(f"/jobs/{job['id']}", json=CREATE | {"schedule": "30 2 * 3 0#2",
                            "timezone": "America/New_York"}, headers=a.t1)  # fmt: skip
    cron_patched = a.client.patch(f"/api/crons/{cron['id']}", json={"timezone": "Europe/Berlin"}, headers=a.t1)

    # Then each is a 422 on the schedule's field (the stored expression with the new zone), and nothing was written
    _never_fires(patched, "schedule", recuro=False)
    _never_fires(replaced, "schedule", recuro=False)
    _never_fires(cron_patched, "cron_expression", recuro=True)
    assert len(a.log.records) == written
    # And a zone where it fires is still taken
    ok = a.client.patch(f"/api/crons/{cron['id']}", json={"timezone": "Asia/Tokyo"}, headers=a.t1)
    assert ok.status_code == 200, ok.text


@pytest.fixture
def rated_api(tmp_path: Path) -> Iterator[Api]:
    yield from _api(tmp_path, tenant_create_rate=0.001, tenant_create_burst=2)


def test_refused_schedules_are_counted_by_the_create_rate(rated_api: Api) -> None:
    # Given a tenant allowed bursts of 2 creates and next to no rate
    never = CRON | {"cron_expression": "30 2 * 3 L0", "timezone": "Europe/Berlin"}
    # When it asks twice for a cron that never fires, then for an ordinary one
    first = rated_api.client.post("/api/crons", json=never, headers=rated_api.auth)
    second = rated_api.client.post("/jobs", json=CREATE | {"schedule": "30 2 * 3 0#2", "timezone": "America/New_York"},
                                   headers=rated_api.auth)  # fmt: skip
    third = rated_api.client.post("/api/crons", json=never, headers=rated_api.auth)
    ordinary = rated_api.client.post("/api/crons", json=CRON, headers=rated_api.auth)
    # Then the two refusals took the burst: the next asks are 429s with Retry-After, and nothing was appended
    _never_fires(first, "cron_expression", recuro=True)
    _never_fires(second, "schedule", recuro=False)
    shape(third, 429, recuro=True)
    shape(ordinary, 429, recuro=True)
    assert int(ordinary.headers["Retry-After"]) >= 1
    assert rated_api.log.records == []
