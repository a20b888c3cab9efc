"""Ingest edge cases: chunked oversized bodies, auth before input errors, header rules, routing errors, retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chronohook.ids import queue_id, recuro_job_key
from chronohook.kafka.records import record_of
from schemas.events import (
    HttpRequestSpec,
    JobCreated,
    JobFailed,
    JobPushed,
    JobRetryChainResolved,
    JobRetryScheduled,
    JobSucceeded,
    RunOutcome,
)
from services.ingest.validation import RuleError, http_headers, rfc3339, valid_url
from tests.unit.test_ingest_api import MAX_BYTES, NOW, PUSH, Api, api  # noqa: F401 - the fixture is reused

CRON = {"name": "nightly", "url": "https://example.com/n", "cron_expression": "0 3 * * *"}


def test_an_oversized_chunked_body_is_413_in_the_family_shape(api: Api) -> None:  # noqa: F811
    # Given a body larger than the limit, streamed without a Content-Length
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BYTES // 100 + 2):
            yield b"x" * 100

    # When it is posted to Recuro's endpoint
    r = api.client.post("/api/jobs", content=chunks(), headers=api.t1 | {"Content-Type": "application/json"})
    # Then it is refused with 413 and a message, and nothing was appended
    assert r.status_code == 413, r.text
    assert set(r.json()) == {"message"}
    assert api.log.records == []


def test_a_small_chunked_body_is_accepted(api: Api) -> None:  # noqa: F811
    def chunks() -> Iterator[bytes]:
        yield b'{"queue": "q", '
        yield b'"url": "https://example.com"}'

    r = api.client.post("/api/jobs", content=chunks(), headers=api.t1 | {"Content-Type": "application/json"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("path", ["/api/jobs", "/jobs", "/api/crons"])
def test_the_token_is_checked_before_the_input(api: Api, path: str) -> None:  # noqa: F811
    # Given malformed JSON
    # When it is posted without a token, or with a wrong one
    missing = api.client.post(path, content=b"{nope", headers={"Content-Type": "application/json"})
    wrong = api.client.post(path, content=b"{nope", headers={"Authorization": "Bearer nope"})
    # Then the answer is 401 in the documented shape, not a validation error
    assert (missing.status_code, missing.json()) == (401, {"error": "Missing authorization token"})
    assert wrong.status_code == 401
    assert set(wrong.json()) == {"error"}


def test_routing_errors_keep_each_familys_shape(api: Api) -> None:  # noqa: F811
    # When an unknown Recuro path and a wrong method are called
    unknown = api.client.get("/api/nothing-here", headers=api.t1)
    wrong_method = api.client.put("/api/jobs", headers=api.t1)
    quedup = api.client.put("/jobs", headers=api.t1)
    # Then Recuro's answer in {"message"}, QuedUp's in {"error"}
    assert unknown.status_code == 404
    assert set(unknown.json()) == {"message"}
    assert wrong_method.status_code == 405
    assert set(wrong_method.json()) == {"message"}
    assert quedup.status_code == 405
    assert set(quedup.json()) == {"error"}


@pytest.mark.parametrize(
    ("headers", "field"),
    [({"Bad Name": "v"}, "headers"), ({"X-Ok": "a\r\nX-Injected: 1"}, "headers"), ({"X-Ok": "a\nb"}, "headers")],
)
def test_header_names_and_values_are_checked(api: Api, headers: dict[str, str], field: str) -> None:  # noqa: F811
    r = api.client.post("/api/jobs", json=PUSH | {"headers": headers}, headers=api.t1)
    assert r.status_code == 422
    assert field in r.json()["errors"]
    assert api.log.records == []


@pytest.mark.parametrize(
    "value",
    [
        "2025-09-24T17:00+01:00",
        "2025-W39-3T17:00:00Z",
        "2025-09-24T17:00:00,5Z",
        "2025-09-24T170000+01:00",
        "2025-09-24 17:00:00Z",
        "2025-09-24T17:00:00",
    ],
)
def test_only_rfc3339_is_accepted(value: str) -> None:
    with pytest.raises(RuleError):
        rfc3339(value)


def test_rfc3339_accepts_offsets_and_fractions() -> None:
    assert rfc3339("2025-09-24T17:00:00.250+02:00").isoformat() == "2025-09-24T15:00:00.250000+00:00"
    assert rfc3339("2025-09-24t17:00:00z").hour == 17


@pytest.mark.parametrize("url", ["https://example.com:99999", "ftp://example.com", "https://", "http://a b.com"])
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(RuleError):
        valid_url(url)


def test_valid_headers_pass_unchanged() -> None:
    assert http_headers({"X-Webhook-Secret": "abc123", "Content-Type": "application/json"}) == {
        "X-Webhook-Secret": "abc123",
        "Content-Type": "application/json",
    }


@pytest.mark.parametrize(
    ("assertion", "ok"),
    [
        ({"type": "status_code_equals", "value": "200"}, True),
        ({"type": "status_code_equals", "value": "abc"}, False),
        ({"type": "response_time_under_ms", "value": "500"}, True),
        ({"type": "response_time_under_ms", "value": "-1"}, False),
        ({"type": "body_contains", "value": "ok"}, True),
        ({"type": "nope", "value": "x"}, False),
    ],
)
def test_cron_success_assertions_are_validated(api: Api, assertion: dict[str, str], ok: bool) -> None:  # noqa: F811
    r = api.client.post("/api/crons", json=CRON | {"success_assertions": [assertion]}, headers=api.t1)
    assert r.status_code == (201 if ok else 422), r.text


def test_a_cron_carries_its_assertions_to_the_request(api: Api) -> None:  # noqa: F811
    checks = [{"type": "body_contains", "value": "ok"}, {"type": "status_code_equals", "value": "204"}]
    r = api.client.post("/api/crons", json=CRON | {"success_assertions": checks}, headers=api.t1)
    assert r.status_code == 201
    [event] = api.events()
    assert isinstance(event, JobCreated)
    assert [(a.type, a.value) for a in event.request.assertions] == [
        ("body_contains", "ok"),
        ("status_code_equals", "204"),
    ]


def _outcome(run: str) -> RunOutcome:
    return RunOutcome(
        run_id=run,
        attempt=1,
        due_at=NOW,
        started_at=NOW,
        finished_at=NOW,
        duration_ms=1.0,
        request_headers={},
        request_body=None,
        response_status=500,
    )


def test_has_pending_retry_holds_until_the_chain_resolves(api: Api) -> None:  # noqa: F811
    # Given a pushed job that failed, with a retry scheduled as a new job
    r = api.client.post("/api/jobs", json=PUSH, headers=api.t1)
    job_id = r.json()["job_id"]
    key = recuro_job_key(job_id)
    retry_key = recuro_job_key(job_id + 1)
    failed = JobFailed(
        event_id="f",
        job_id=key,
        tenant="t1",
        occurred_at=NOW,
        outcome=_outcome(f"{key}:1"),
        failure_reason="http_server_error",
    )
    scheduled = JobRetryScheduled(
        event_id="r",
        job_id=key,
        tenant="t1",
        occurred_at=NOW,
        failed_run_id=f"{key}:1",
        next_attempt=2,
        retry_at=NOW,
        retry_job_id=retry_key,
    )
    api.log.records.extend([record_of(failed), record_of(scheduled)])
    api.project()
    # Then, while the retry job is not even projected, a retry is pending
    body = api.client.get(f"/api/jobs/{job_id}", headers=api.t1).json()
    assert (body["final_status"], body["has_pending_retry"]) == ("retrying", True)
    # When the retry job is pushed and succeeds
    push = JobPushed(
        event_id="p2",
        job_id=retry_key,
        tenant="t1",
        occurred_at=NOW,
        integer_id=job_id + 1,
        queue="emails",
        queue_id=queue_id("t1", "emails"),
        request=HttpRequestSpec(method="POST", url="https://e.com"),
        scheduled_at=NOW,
        attempt_number=2,
        retry_of=key,
    )
    ok_outcome = _outcome(f"{retry_key}:1").model_copy(update={"response_status": 200})
    done = JobSucceeded(event_id="s2", job_id=retry_key, tenant="t1", occurred_at=NOW, outcome=ok_outcome)
    # (the timer announces the chain's success on the original: decision 0016)
    resolved = JobRetryChainResolved(
        event_id="c2", job_id=key, tenant="t1", occurred_at=NOW, resolution="success", run_id=f"{retry_key}:1",
        attempts=2,
    )  # fmt: skip
    api.log.records.extend([record_of(push), record_of(done), record_of(resolved)])
    api.project()
    # Then the chain has resolved: nothing is pending any more, and the original reads success
    body = api.client.get(f"/api/jobs/{job_id}", headers=api.t1).json()
    assert (body["final_status"], body["has_pending_retry"]) == ("success", False)
    retry = api.client.get(f"/api/jobs/{job_id + 1}", headers=api.t1).json()
    assert (retry["is_retry"], retry["retry_of"], retry["attempt_number"]) == (True, job_id, 2)
