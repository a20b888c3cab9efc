"""No tenant sees another's work: every endpoint, called with a second tenant's token, on the running stack.

The table below names what each route must do for a tenant that does not own the data. The routes are read from the
stack's own OpenAPI document and from the app's route list (undocumented routes too), so a new endpoint fails this
test until it has a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from chronohook.clock import FixedClock
from chronohook.ids import queue_id, recuro_cron_key
from chronohook.kafka.log import InMemoryEventLog
from chronohook.readmodel.store import ReadModelStore
from chronohook.readmodel.views import JobView
from chronohook.settings import Settings
from chronohook.store.engine import make_engine
from services.ingest.app import build_context, create_app
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import RECEIVER_HOST

# Port 9 on the receiver's (allowed) host: the jobs below are far in the future or paused and never sent anyway.
TARGET = f"http://{RECEIVER_HOST}:9/tenants"
# Served to anyone, about no tenant's data: health, the version, and the API's docs pages (decision 0038).
PUBLIC = frozenset({("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/version"), ("GET", "/docs"), ("GET", "/redoc")})
# The web console's pages: a shell with no data in it; what it shows it fetches from the API with the user's token.
CONSOLE_PAGES = frozenset(
    ("GET", "/console" + p) for p in ("", "/", "/queues", "/crons", "/dead-letters", "/settings", "/jobs/{job_id}")
)


@dataclass(frozen=True)
class Owned:
    """Tenant A's things, and how each reads back."""

    quedup_id: str
    quedup_name: str
    recuro_id: int
    cron_id: int


def _create(stack: Stack, store: ReadModelStore) -> Owned:
    name = "tenant-a-only"
    with stack.client() as a:
        r = a.post("/jobs", json={"name": name, "method": "POST", "url": TARGET, "schedule": "0 0 1 1 *"})
        assert r.status_code == 200, r.text
        quedup_id = r.json()["id"]
        r = a.post("/api/jobs", json={"queue": "tenant-a", "url": TARGET, "delay": 86_400})
        assert r.status_code == 201, r.text
        recuro_id = r.json()["job_id"]
        r = a.post(
            "/api/crons", json={"name": "tenant-a", "url": TARGET, "cron_expression": "0 0 1 1 *", "is_active": False}
        )
        assert r.status_code == 201, r.text
        cron_id = r.json()["id"]
        # Visible to their owner first: a 404 for B must not be a 404 for everyone.
        eventually(lambda: a.get(f"/jobs/{quedup_id}").status_code == 200, what="A's QuedUp job")
        eventually(lambda: a.get(f"/api/jobs/{recuro_id}").status_code == 200, what="A's Recuro job")
    eventually(lambda: store.job("tenant-a", recuro_cron_key(cron_id)), what="A's cron")
    return Owned(quedup_id, name, recuro_id, cron_id)


def _snapshot(stack: Stack, store: ReadModelStore, owned: Owned) -> tuple[Any, Any, JobView | None]:
    with stack.client() as a:
        quedup = a.get(f"/jobs/{owned.quedup_id}").json()
        recuro = a.get(f"/api/jobs/{owned.recuro_id}").json()
    return quedup, recuro, store.job("tenant-a", recuro_cron_key(owned.cron_id))


# -- what each route must answer to tenant B ---------------------------------------------------------------------
Check = Callable[[httpx.Client, Owned], None]


def _not_found(method: str, path: str, body: Any = None) -> Check:
    def check(b: httpx.Client, owned: Owned) -> None:
        url = path.format(quedup_id=owned.quedup_id, recuro_id=owned.recuro_id, cron_id=owned.cron_id)
        r = b.request(method, url, json=body)
        assert r.status_code == 404, f"{method} {url}: {r.status_code} {r.text}"

    return check


def _lists_none_of_a(path: str, key: str) -> Check:
    def check(b: httpx.Client, owned: Owned) -> None:
        r = b.get(path, params={"limit": 1000})
        assert r.status_code == 200, r.text
        listed = {item[key] for item in r.json()}
        assert owned.quedup_id not in listed and owned.recuro_id not in listed, f"GET {path}: {r.text[:500]}"

    return check


def _creates_its_own(path: str, body: dict[str, Any], status: int) -> Check:
    """B may create: same names as A's are free for B, and the answer is B's new thing, not A's."""

    def check(b: httpx.Client, owned: Owned) -> None:
        r = b.post(path, json=body | ({"name": owned.quedup_name} if path == "/jobs" else {}))
        assert r.status_code == status, f"POST {path}: {r.status_code} {r.text}"
        answer = r.json()
        assert owned.quedup_id != answer.get("id") and answer.get("job_id") != owned.recuro_id, r.text
        assert answer.get("id") != owned.cron_id or path != "/api/crons", r.text

    return check


def _pages_none_of_a(path: str) -> Check:
    """A Laravel-paged /api list: none of A's things on any of B's pages."""

    def check(b: httpx.Client, owned: Owned) -> None:
        listed: set[object] = set()
        for page in range(1, 101):  # B owns a handful of things: far fewer pages than this
            r = b.get(path, params={"page": page, "per_page": 100})
            assert r.status_code == 200, r.text
            listed.update(item.get("id") for item in r.json()["data"])
            if r.json()["links"]["next"] is None:
                break
        assert owned.cron_id not in listed and owned.recuro_id not in listed, f"GET {path}: {listed}"

    return check


def _cursor_pages_none_of_a(b: httpx.Client, owned: Owned) -> None:
    """GET /api/jobs: none of A's jobs on any of B's cursor pages."""
    listed: set[object] = set()
    url: str | None = "/api/jobs?per_page=100"
    for _ in range(100):
        if url is None:
            break
        r = b.get(url)
        assert r.status_code == 200, r.text
        listed.update(item["id"] for item in r.json()["data"])
        url = r.json()["links"]["next"]
    assert owned.recuro_id not in listed, f"GET /api/jobs: {listed}"


def _dead_letters_none_of_a(b: httpx.Client, owned: Owned) -> None:
    r = b.get("/api/dead-letters", params={"per_page": 100, "queue": "tenant-a"})
    assert r.status_code == 200, r.text
    assert owned.recuro_id not in {item["job_id"] for item in r.json()["data"]}, r.text


def _bulk_replays_none_of_a(b: httpx.Client, owned: Owned) -> None:
    for body in ({"job_ids": [owned.recuro_id]}, {"queue": "tenant-a"}):
        r = b.post("/api/dead-letters/replay", json=body)
        assert r.status_code == 200 and r.json()["count"] == 0, r.text


def _purges_none_of_a(b: httpx.Client, _: Owned) -> None:
    r = b.request("DELETE", "/api/dead-letters", params={"queue": "tenant-a"})
    assert r.status_code == 200 and r.json()["purged"] == 0, r.text


def _alert_destination_is_its_own(b: httpx.Client, _: Owned) -> None:
    """B sets, reads and clears only its own alert destination (A's is never one B can see)."""
    r = b.put("/api/alert-destination", json={"url": TARGET + "/b-alerts", "format": "slack"})
    assert r.status_code == 200 and r.json()["url"] == TARGET + "/b-alerts", r.text
    r = b.get("/api/alert-destination")
    assert r.status_code == 200 and r.json()["url"] == TARGET + "/b-alerts", r.text
    assert b.delete("/api/alert-destination").status_code == 204
    eventually(lambda: b.get("/api/alert-destination").status_code == 404, what="B's destination cleared")


A_QUEUE_ID = queue_id("tenant-a", "tenant-a")


def _queues_none_of_a(b: httpx.Client, _: Owned) -> None:
    """B lists, reads and PATCHes queues named like A's: only ever B's own (a queue id is per tenant and name)."""
    r = b.get("/api/queues", params={"per_page": 100})
    assert r.status_code == 200 and A_QUEUE_ID not in {q["id"] for q in r.json()["data"]}, r.text
    r = b.get("/api/queues/tenant-a")
    assert r.status_code == 404 or r.json()["id"] != A_QUEUE_ID, r.text
    r = b.patch("/api/queues/tenant-a", json={"is_active": True})
    assert r.status_code == 200 and r.json()["id"] != A_QUEUE_ID, r.text


def _queue_stats_are_its_own(b: httpx.Client, _: Owned) -> None:
    """B reads the stats of a queue named like A's: a 404 (B has none of that name) or B's own, never A's jobs."""
    r = b.get("/api/queues/tenant-a/stats")
    assert r.status_code == 404 or r.json()["counts"]["total"] == 0, r.text


def _queue_delete_is_its_own(b: httpx.Client, _: Owned) -> None:
    """B deletes a queue named like A's: only ever B's own, when it has one (A's holds a job: it would be a 409)."""
    r = b.delete("/api/queues/tenant-a")
    assert r.status_code in (204, 404), r.text


def _signing_secret_is_its_own(b: httpx.Client, _: Owned) -> None:
    """B reads, rotates and sets only its own signing secret (tests/integration/test_signing.py: each tenant has its
    own); B's rotation keeps B's old secret signing beside the new one, so nothing B receives stops verifying."""
    before = b.get("/api/signing-secret")
    assert before.status_code == 200, before.text
    rotated = b.post("/api/signing-secret/rotate")
    assert rotated.status_code == 200 and rotated.json()["secret"] != before.json()["secret"], rotated.text
    r = b.put("/api/signing-secret", json={"recuro_compat": False})
    assert r.status_code == 200 and r.json()["secret"] == rotated.json()["secret"], r.text


def _public(_: httpx.Client, __: Owned) -> None:
    """Not tenant data (checked by PUBLIC)."""


TABLE: dict[tuple[str, str], Check] = {
    ("GET", "/healthz"): _public,
    ("GET", "/readyz"): _public,
    ("GET", "/version"): _public,
    ("GET", "/docs"): _public,
    ("GET", "/redoc"): _public,
    **{route: _public for route in CONSOLE_PAGES},
    ("GET", "/console/api/schedules/{job_id}/occurrences"): _not_found(
        "GET", "/console/api/schedules/{cron_id}/occurrences"
    ),
    # QuedUp
    ("GET", "/jobs"): _lists_none_of_a("/jobs", "id"),
    ("POST", "/jobs"): _creates_its_own("/jobs", {"method": "POST", "url": TARGET, "schedule": "0 0 1 1 *"}, 200),
    ("GET", "/jobs/{job_id}"): _not_found("GET", "/jobs/{quedup_id}"),
    ("PATCH", "/jobs/{job_id}"): _not_found("PATCH", "/jobs/{quedup_id}", {"url": TARGET + "/b"}),
    ("PUT", "/jobs/{job_id}"): _not_found(
        "PUT", "/jobs/{quedup_id}", {"name": "tenant-b-put", "method": "POST", "url": TARGET + "/b"}
    ),
    ("DELETE", "/jobs/{job_id}"): _not_found("DELETE", "/jobs/{quedup_id}"),
    ("POST", "/jobs/{job_id}/pause"): _not_found("POST", "/jobs/{quedup_id}/pause"),
    ("POST", "/jobs/{job_id}/resume"): _not_found("POST", "/jobs/{quedup_id}/resume"),
    # Recuro
    ("POST", "/api/jobs"): _creates_its_own("/api/jobs", {"queue": "tenant-a", "url": TARGET, "delay": 86_400}, 201),
    ("POST", "/api/jobs/batch"): _creates_its_own(
        "/api/jobs/batch", {"jobs": [{"queue": "tenant-a", "url": TARGET, "delay": 86_400}]}, 201
    ),
    ("GET", "/api/jobs"): _cursor_pages_none_of_a,
    ("GET", "/api/jobs/{job_id}"): _not_found("GET", "/api/jobs/{recuro_id}"),
    ("POST", "/api/crons"): _creates_its_own(
        "/api/crons", {"name": "tenant-a", "url": TARGET, "cron_expression": "0 0 1 1 *", "is_active": False}, 201
    ),
    ("GET", "/api/crons"): _pages_none_of_a("/api/crons"),
    ("GET", "/api/crons/{cron_id}"): _not_found("GET", "/api/crons/{cron_id}"),
    ("PATCH", "/api/crons/{cron_id}"): _not_found("PATCH", "/api/crons/{cron_id}", {"is_active": True}),
    ("DELETE", "/api/crons/{cron_id}"): _not_found("DELETE", "/api/crons/{cron_id}"),
    # Runs
    ("GET", "/api/jobs/{job_id}/runs"): _not_found("GET", "/api/jobs/{recuro_id}/runs"),
    ("GET", "/api/crons/{cron_id}/runs"): _not_found("GET", "/api/crons/{cron_id}/runs"),
    ("GET", "/jobs/{job_id}/runs"): _not_found("GET", "/jobs/{quedup_id}/runs"),
    # History (read through its rows' tenant: another tenant's history is a 404, as an unknown job's)
    ("GET", "/api/jobs/{job_id}/events"): _not_found("GET", "/api/jobs/{recuro_id}/events"),
    ("GET", "/api/crons/{cron_id}/events"): _not_found("GET", "/api/crons/{cron_id}/events"),
    ("GET", "/jobs/{job_id}/events"): _not_found("GET", "/jobs/{quedup_id}/events"),
    # Dead letters (A's Recuro job is not one, but B must get a 404 or nothing of A's either way)
    ("GET", "/api/dead-letters"): _dead_letters_none_of_a,
    ("POST", "/api/dead-letters/{job_id}/replay"): _not_found("POST", "/api/dead-letters/{recuro_id}/replay"),
    ("POST", "/api/dead-letters/replay"): _bulk_replays_none_of_a,
    ("DELETE", "/api/dead-letters/{job_id}"): _not_found("DELETE", "/api/dead-letters/{recuro_id}"),
    ("DELETE", "/api/dead-letters"): _purges_none_of_a,
    # Queues
    ("GET", "/api/queues"): _queues_none_of_a,
    ("GET", "/api/queues/{name}"): _queues_none_of_a,
    ("PATCH", "/api/queues/{name}"): _queues_none_of_a,
    ("GET", "/api/queues/{name}/stats"): _queue_stats_are_its_own,
    ("DELETE", "/api/queues/{name}"): _queue_delete_is_its_own,
    # Alerts
    ("PUT", "/api/alert-destination"): _alert_destination_is_its_own,
    ("GET", "/api/alert-destination"): _alert_destination_is_its_own,
    ("DELETE", "/api/alert-destination"): _alert_destination_is_its_own,
    ("GET", "/api/alerts"): _pages_none_of_a("/api/alerts"),
    # Signing secret (the caller's own, never another tenant's)
    ("GET", "/api/signing-secret"): _signing_secret_is_its_own,
    ("POST", "/api/signing-secret/rotate"): _signing_secret_is_its_own,
    ("PUT", "/api/signing-secret"): _signing_secret_is_its_own,
}


@pytest.fixture
def store(stack: Stack) -> Iterator[ReadModelStore]:
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        yield ReadModelStore(engine)
    finally:
        engine.dispose()


def _routes(stack: Stack, tmp_path: Path) -> set[tuple[str, str]]:
    """The running ingest's documented routes, and every route of the app, documented or not (HEAD comes free)."""
    document = httpx.get(f"{stack.base_url}/openapi.json", timeout=10).json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    ctx = build_context(Settings(data_dir=tmp_path), FixedClock(datetime.now(UTC)), log=InMemoryEventLog())
    app = create_app(ctx)
    try:
        served = {
            (method, route.path)
            for route in app.routes
            if isinstance(route, APIRoute)
            for method in (route.methods or set()) - {"HEAD"}
        }
    finally:
        ctx.engine.dispose()
    return documented | served


def test_every_route_has_a_row_in_the_tenant_table(stack: Stack, tmp_path: Path) -> None:
    # Given the routes the running ingest serves
    routes = _routes(stack, tmp_path)
    # Then each one says what it does for another tenant, and the table names no route that is gone
    assert routes - TABLE.keys() == set(), "add these routes to TABLE in tests/integration/test_tenants.py"
    assert TABLE.keys() - routes == set()


def test_a_second_tenant_gets_404_or_none_of_the_first_tenants_things(stack: Stack, store: ReadModelStore) -> None:
    # Given tenant A's QuedUp job, Recuro job and Recuro cron, visible to A
    owned = _create(stack, store)
    before = _snapshot(stack, store, owned)
    # When every route is called with tenant B's token, on A's ids where a route takes one
    with stack.client(stack.other_token) as b:
        for (method, path), check in sorted(TABLE.items()):
            if (method, path) not in PUBLIC | CONSOLE_PAGES:
                check(b, owned)
    # Then nothing of A's changed (B's attempts to change, pause or delete found nothing)
    assert _snapshot(stack, store, owned) == before
