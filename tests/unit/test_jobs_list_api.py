"""``GET /api/jobs`` through FastAPI's TestClient: an in-memory event log and a SQLite read model in tmp_path; jobs
pushed through the API and projected when the test says so (the store's query runs on PostgreSQL too:
tests/contracts/test_job_list.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chronohook.clock import FixedClock
from services.ingest.routers.recuro_jobs import decode_cursor, encode_cursor
from tests.support.recuro_app import NOW, RecuroApi, recuro_app


class Api(RecuroApi):
    def all_pages(self, query: str, headers: dict[str, str]) -> tuple[list[int], int]:
        """Every job id, following links.next from the first page; and how many pages that took."""
        seen: list[int] = []
        url: str | None = f"/api/jobs?{query}"
        pages = 0
        while url is not None and pages < 100:
            r = self.client.get(url, headers=headers)
            assert r.status_code == 200, r.text
            body = r.json()
            seen += [j["id"] for j in body["data"]]
            url = body["links"]["next"]
            pages += 1
        return seen, pages


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    # Given an ingest app on a fixed clock, an in-memory log and tokens for tenants t1 and t2
    with recuro_app(tmp_path, Api) as app:
        yield app


def test_paging_through_all_jobs_sees_each_once_newest_first(api: Api) -> None:
    # Given 7 jobs of t1 in two queues
    ids = api.push("emails", api.t1, 4) + api.push("sms", api.t1, 3)
    api.project()
    # When t1 follows links.next from the first page, 3 per page
    seen, pages = api.all_pages("per_page=3", api.t1)
    # Then every job is seen once, newest first, in 3 pages
    assert seen == sorted(ids, reverse=True) and pages == 3


def test_the_first_page_has_laravels_cursor_shape(api: Api) -> None:
    # Given 3 jobs
    api.push("emails", api.t1, 3)
    api.project()
    # When the first page of 2 is read
    body = api.client.get("/api/jobs?per_page=2", headers=api.t1).json()
    # Then it has Laravel's cursor paginator keys, no previous page and a next one
    assert set(body) == {"data", "links", "meta"}
    assert body["links"]["first"] is None and body["links"]["last"] is None and body["links"]["prev"] is None
    assert body["meta"]["prev_cursor"] is None and body["meta"]["per_page"] == 2
    assert body["meta"]["path"].endswith("/api/jobs")
    following = body["links"]["next"]
    assert following.endswith(f"cursor={body['meta']['next_cursor']}") and "per_page=2" in following
    assert {"id", "queue", "status", "final_status", "runs", "url"} <= set(body["data"][0])


def test_prev_cursor_leads_back_to_the_page_before(api: Api) -> None:
    # Given 5 jobs, and the second page of 2
    api.push("emails", api.t1, 5)
    api.project()
    first = api.client.get("/api/jobs?per_page=2", headers=api.t1).json()
    second = api.client.get(first["links"]["next"], headers=api.t1).json()
    assert second["meta"]["prev_cursor"] is not None
    # When the client follows its prev link
    back = api.client.get(second["links"]["prev"], headers=api.t1).json()
    # Then it is the first page again, which has no page before it
    assert [j["id"] for j in back["data"]] == [j["id"] for j in first["data"]]
    assert back["meta"]["prev_cursor"] is None and back["meta"]["next_cursor"] is not None


def test_filters_by_queue_and_status_and_keeps_them_in_the_links(api: Api) -> None:
    # Given 3 jobs in emails and 2 in sms, all pending
    emails = api.push("emails", api.t1, 3)
    api.push("sms", api.t1, 2)
    api.project()
    # When t1 pages through emails only, 2 per page
    seen, pages = api.all_pages("queue=emails&per_page=2", api.t1)
    # Then only those, over 2 pages (the filter rode in the next link)
    assert seen == sorted(emails, reverse=True) and pages == 2
    # And a status filter selects by status
    assert len(api.all_pages("status=pending", api.t1)[0]) == 5
    assert api.all_pages("status=completed", api.t1)[0] == []
    assert api.all_pages("queue=emails&status=failed", api.t1)[0] == []


def test_tenants_see_only_their_own_jobs(api: Api) -> None:
    # Given jobs of t1 and t2 in queues of the same name
    mine = api.push("emails", api.t1, 2)
    theirs = api.push("emails", api.t2, 3)
    api.project()
    # When each lists its jobs
    # Then each sees its own only
    assert sorted(api.all_pages("", api.t1)[0]) == sorted(mine)
    assert sorted(api.all_pages("queue=emails", api.t2)[0]) == sorted(theirs)
    # And a cursor taken from t2's pages shows t1 nothing of t2's
    cursor = api.client.get("/api/jobs?per_page=1", headers=api.t2).json()["meta"]["next_cursor"]
    page = api.client.get(f"/api/jobs?cursor={cursor}", headers=api.t1).json()
    assert not set(j["id"] for j in page["data"]) & set(theirs)


@pytest.mark.parametrize(
    "cursor",
    ["nonsense", "e30", "!!!", "eyJpZCI6MX0", encode_cursor.__name__, "x" * 600, "bnVsbA"],
)
def test_a_bad_cursor_is_a_422_naming_it(api: Api, cursor: str) -> None:
    # Given a cursor this API never gave
    # When it is used
    r = api.client.get("/api/jobs", params={"cursor": cursor}, headers=api.t1)
    # Then a 422 in the Recuro shape names the cursor
    assert r.status_code == 422, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"message", "errors"} and body["errors"] == {"cursor": ["The cursor is invalid."]}


@pytest.mark.parametrize("query", ["per_page=0", "per_page=101", "status=dead", "queue="])
def test_bad_parameters_are_422s(api: Api, query: str) -> None:
    r = api.client.get(f"/api/jobs?{query}", headers=api.t1)
    assert r.status_code == 422, r.text


def test_the_list_needs_a_token(api: Api) -> None:
    assert api.client.get("/api/jobs").status_code == 401


def test_a_cursor_round_trips() -> None:
    # Given a cursor made from a position
    from chronohook.readmodel.job_list import Position

    at = Position(NOW, "rj_42")
    # When it is decoded
    # Then the same position and direction come back
    assert decode_cursor(encode_cursor(at, "prev")) == (at, "prev")
    assert decode_cursor(encode_cursor(at, "next")) == (at, "next")


def _push_url(api: Api, url: str) -> int:
    r = api.client.post("/api/jobs", json={"queue": "emails", "url": url}, headers=api.t1)
    assert r.status_code == 201, r.text
    job_id: int = r.json()["job_id"]
    return job_id


def test_url_and_creation_time_filters_page_with_their_links(api: Api) -> None:
    # Given 6 jobs a minute apart, three of them to /orders
    clock = api.ctx.clock
    assert isinstance(clock, FixedClock)
    ids = []
    for i in range(6):
        clock.set(NOW + timedelta(minutes=i))
        ids.append(_push_url(api, f"http://127.0.0.2:9/{'Orders' if i % 2 else 'mail'}/{i}"))
    api.project()
    # When t1 pages through the jobs whose URL holds "orders", 1 per page
    seen, pages = api.all_pages("url=orders&per_page=1", api.t1)
    # Then only those, any case, newest first, the filter riding in each next link
    assert seen == [ids[5], ids[3], ids[1]] and pages == 3
    # And a creation window keeps its start, leaves out its end, and combines with the URL filter
    window = "created_after=2026-04-10T14:06:00Z&created_before=2026-04-10T16:09:00%2B02:00"
    assert api.all_pages(f"{window}&per_page=2", api.t1)[0] == [ids[3], ids[2], ids[1]]
    assert api.all_pages(f"{window}&url=ORDERS&per_page=1", api.t1)[0] == [ids[3], ids[1]]


def test_a_cursor_is_refused_with_other_filters(api: Api) -> None:
    # Given the first page of t1's emails jobs and its next cursor
    api.push("emails", api.t1, 3)
    api.project()
    cursor = api.client.get("/api/jobs?queue=emails&per_page=1", headers=api.t1).json()["meta"]["next_cursor"]
    # When the cursor is sent with the same filters: Then it pages on
    assert api.client.get(f"/api/jobs?queue=emails&per_page=1&cursor={cursor}", headers=api.t1).status_code == 200
    # And with other filters (or none) it is a 422 naming cursor, in Recuro's shape
    for other in ("queue=sms", "", "queue=emails&url=x", "queue=emails&created_after=2026-01-01T00:00:00Z"):
        r = api.client.get(f"/api/jobs?{other}&cursor={cursor}", headers=api.t1)
        assert r.status_code == 422 and "cursor" in r.json()["errors"], (other, r.text)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("created_after=yesterday", "created_after"),
        ("created_after=2026-04-10T14:00:00", "created_after"),  # no offset
        ("created_before=2026-13-01T00:00:00Z", "created_before"),
        ("created_after=2026-04-10T15:00:00Z&created_before=2026-04-10T14:00:00Z", "created_before"),
        ("url=", "url"),
        ("url=a%00b", "url"),
        ("url=" + "x" * 2049, "url"),
    ],
)
def test_bad_filter_values_are_422_naming_the_field(api: Api, query: str, field: str) -> None:
    # When the list is asked with a bad filter value
    r = api.client.get(f"/api/jobs?{query}", headers=api.t1)
    # Then a 422 in Recuro's shape names it
    assert r.status_code == 422 and field in r.json()["errors"], r.text
    assert set(r.json()) == {"message", "errors"}
