"""Schemathesis against the OpenAPI document the running stack serves: every operation, valid and invalid input.

The schema is loaded from ``{stack.base_url}/openapi.json`` and every generated request goes over HTTP to the real
ingest process, which publishes to the real broker. Each answer must be documented (status, content type, body
schema), never a 5xx, and every 4xx must be in its API family's error shape (``services/ingest/errors.py``):

* any 401: ``{"error": "..."}`` and ``WWW-Authenticate: Bearer``;
* Recuro (``/api/...``): Laravel's ``{"message": "..."}``, with ``"errors": {field: ["..."]}`` on 422;
* QuedUp (``/jobs...``): ``{"error": "..."}``, with ``"errors": {field: ["..."]}`` on 409 and 422.

Bounded and reproducible: derandomized generation (the same requests on every run), at most ``MAX_EXAMPLES``
examples per operation and mode (positive, negative), no example database, no deadline. About 18 s with the stack
at 12 examples (28 s at 20, 75 s at 40 on a loaded box; the cuts paid for the timer's scale-out and lease tests).
``CHRONOHOOK_FUZZ_EXAMPLES`` raises it for a deeper run.

``schemathesis.pytest.from_fixture(...).parametrize()`` fails under pytest 9.2 (``'Function' object has no attribute
'_nodeid'``), so each operation is driven through ``APIOperation.as_strategy`` and reported as a pytest subtest.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from chronohook.store.engine import make_engine
from chronohook.store.tokens import create_token
from services.ingest.validation import RuleError, valid_url
from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

# Per operation and mode; raise it locally to dig deeper (CHRONOHOOK_FUZZ_EXAMPLES=500).
MAX_EXAMPLES = int(os.environ.get("CHRONOHOOK_FUZZ_EXAMPLES", "12"))
FUZZ_TENANT = "fuzz"
PUBLIC = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
LARAVEL_MORE = re.compile(r"^(?P<first>.+) \(and (?P<n>\d+) more errors?\)$", re.DOTALL)


# -- the documented error shapes --------------------------------------------------------------------------------
def _field_errors(body: dict[str, Any]) -> list[str]:
    """The ``errors`` object: at least one field, each with a non-empty list of strings; its messages, in order."""
    errors = body["errors"]
    assert isinstance(errors, dict) and errors, f"errors must be a non-empty object: {body}"
    messages: list[str] = []
    for name, items in errors.items():
        assert isinstance(name, str) and name, f"an error field name must be a non-empty string: {body}"
        assert isinstance(items, list) and items, f"errors.{name} must be a non-empty list: {body}"
        assert all(isinstance(m, str) and m for m in items), f"errors.{name} must hold strings: {body}"
        messages.extend(items)
    return messages


def _summary_matches(summary: str, messages: list[str]) -> bool:
    """Laravel's summary: the first message, then `` (and N more error[s])`` when there are more."""
    if len(messages) == 1:
        return summary == messages[0]
    more = LARAVEL_MORE.match(summary)
    return more is not None and more["first"] == messages[0] and int(more["n"]) == len(messages) - 1


def assert_documented_error(path: str, status: int, headers: dict[str, str], content: bytes) -> None:
    """Strict: exactly the keys the family documents for this status, with the types it documents.

    ``headers`` with lower-case names.
    """
    assert headers.get("content-type", "").startswith("application/json"), f"{status} is not JSON: {headers}"
    body = json.loads(content)
    assert isinstance(body, dict), f"a {status} body must be an object: {body!r}"
    if status == 401:
        # Both families, as Recuro documents it: {"error": "Missing authorization token"}
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
        assert headers.get("www-authenticate") == "Bearer", headers
        return
    key = "message" if path.startswith("/api/") else "error"
    with_errors = status == 422 or (status == 409 and key == "error")
    assert set(body) == ({key, "errors"} if with_errors else {key}), f"{path} {status}: {body}"
    assert isinstance(body[key], str) and body[key], f"{path} {status}: {body}"
    if with_errors:
        messages = _field_errors(body)
        if status == 422:
            assert _summary_matches(body[key], messages), f"{key} must summarise errors: {body}"


def documented_error_shape(_ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """A schemathesis check: no 5xx at all, and every 4xx in the family's documented shape."""
    path = case.operation.path
    sent = f"{case.method.upper()} {case.formatted_path} query={case.query!r} body={case.body!r}"
    assert response.status_code < 500, f"{sent} answered {response.status_code}: {response.text}"
    if 400 <= response.status_code < 500:
        assert path not in PUBLIC, f"{sent}: a public path answered {response.status_code}"
        headers = {name.lower(): ", ".join(values) for name, values in response.headers.items()}
        try:
            assert_documented_error(path, response.status_code, headers, response.content)
        except AssertionError as exc:
            raise AssertionError(f"{sent} -> {response.status_code} {response.text}: {exc}") from None
    return None


# Not positive_data_acceptance: the request schemas (models.py) do not say what a valid url, method, cron expression
# or run_at is, so "valid" generated data is mostly refused, rightly. ignored_auth and unsupported_method are covered
# by the explicit tests below, at a fraction of the requests.
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# -- the running stack, seen by schemathesis --------------------------------------------------------------------
@dataclass
class Fuzz:
    stack: Stack
    token: str
    sink: str
    quedup_ids: set[str] = field(default_factory=set)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.stack.base_url, headers=self.auth(), timeout=10)


@pytest.fixture(scope="module")
def fuzz(stack: Stack, receiver: Receiver) -> Iterator[Fuzz]:
    # Given a tenant of its own (its job names and listings cannot meet other tests'), with a real token
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        token = create_token(engine, FUZZ_TENANT)
    finally:
        engine.dispose()
    f = Fuzz(stack, token, receiver.url("/fuzz"))
    yield f
    # Afterwards: the QuedUp jobs it created stop firing (a cron one would, every minute, for the whole session)
    with f.client() as c:
        for job_id in sorted(f.quedup_ids):
            eventually(partial(_deleted, c, job_id), what=f"delete {job_id}")


def _deleted(client: httpx.Client, job_id: str) -> bool:
    return client.delete(f"/jobs/{job_id}").status_code in (204, 404)


@pytest.fixture(scope="module")
def api_schema(fuzz: Fuzz) -> OpenApiSchema:
    config = schemathesis.Config.from_dict({"headers": fuzz.auth(), "request-timeout": 15})
    return schemathesis.openapi.from_url(f"{fuzz.stack.base_url}/openapi.json", config=config, timeout=10)


Operation = APIOperation[Any, Any, Any, Any]


def _operations(schema: OpenApiSchema) -> list[Operation]:
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operations.append(result.ok())
    return operations


def _aim_at_sink(body: Any, sink: str) -> None:
    """Valid target URLs become the local receiver, so no fuzzed job reaches out; invalid ones stay as generated."""
    if isinstance(body, list):
        for item in body:
            _aim_at_sink(item, sink)
        return
    if not isinstance(body, dict):
        return
    for key in ("url", "callback_url"):
        value = body.get(key)
        if isinstance(value, str) and len(value) <= 2048:
            try:
                valid_url(value)
            except RuleError:
                continue
            body[key] = sink
    for nested in body.values():
        if isinstance(nested, (list, dict)):
            _aim_at_sink(nested, sink)


def _existing_id(fuzz: Fuzz, path: str, name: str) -> str:
    """A job of the fuzz tenant for ``path``'s ``{job_id}``: random ids only ever meet the 404."""
    with fuzz.client() as c:
        if path.startswith("/api/"):
            r = c.post("/api/jobs", json={"queue": "fuzz", "url": fuzz.sink, "delay": 86_400})
            assert r.status_code == 201, r.text
            return str(r.json()["job_id"])
        r = c.post("/jobs", json={"name": name, "method": "POST", "url": fuzz.sink, "schedule": "0 0 1 1 *"})
        assert r.status_code == 200, r.text
        job_id: str = r.json()["id"]
        fuzz.quedup_ids.add(job_id)
        return job_id


def _strategy(operation: Operation, mode: GenerationMode, fuzz: Fuzz) -> st.SearchStrategy[Case[Any]]:
    generated = operation.as_strategy(generation_mode=mode)
    if [p.name for p in operation.path_parameters] != ["job_id"]:
        return generated
    pinned = operation.as_strategy(
        generation_mode=mode,
        path_parameters={"job_id": _existing_id(fuzz, operation.path, f"{operation.label} {mode.value}")},
    )
    return st.one_of(generated, pinned)


def _send(case: Case[Any], fuzz: Fuzz) -> None:
    _aim_at_sink(case.body, fuzz.sink)
    if case.operation.path == "/api/crons" and isinstance(case.body, dict) and case.body.get("is_active", True) is True:
        case.body["is_active"] = False  # no endpoint deletes a cron: a fuzzed one must not fire all session long
    response = case.call_and_validate(headers=fuzz.auth(), checks=CHECKS, additional_checks=[documented_error_shape])
    if case.method.upper() == "POST" and case.operation.path == "/jobs" and response.status_code == 200:
        fuzz.quedup_ids.add(response.json()["id"])  # deleted afterwards


def test_every_operation_answers_as_documented(
    api_schema: OpenApiSchema, fuzz: Fuzz, subtests: pytest.Subtests
) -> None:
    # Given every operation of the document the stack serves, the fuzz tenant's real token, and for /{job_id}
    # paths a job that exists as well as generated ids
    operations = _operations(api_schema)
    assert {op.label for op in operations} >= {
        "POST /jobs",
        "PATCH /jobs/{job_id}",
        "POST /api/jobs",
        "POST /api/crons",
    }
    for operation in operations:
        # (negative data needs an input to break: /healthz and /readyz take none)
        has_input = any((operation.path_parameters, operation.query, operation.headers, operation.body))
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if has_input else [GenerationMode.POSITIVE]
        for mode in modes:
            with subtests.test(msg=f"{operation.label} [{mode.value}]"):

                @hypothesis.settings(
                    max_examples=MAX_EXAMPLES,
                    derandomize=True,  # the same requests on every run
                    database=None,
                    deadline=None,
                    print_blob=False,
                    suppress_health_check=list(hypothesis.HealthCheck),
                )
                @hypothesis.given(case=_strategy(operation, mode, fuzz))
                def fuzz_operation(case: Case[Any]) -> None:
                    # When a generated request (valid data, or invalid in some place) is sent to the running stack
                    # Then the answer passes every check: documented status, content type, headers and body
                    # schema; invalid data refused; no 5xx; a 4xx in the family's error shape
                    _send(case, fuzz)

                try:
                    fuzz_operation()
                except hypothesis.errors.Unsatisfiable:
                    # A string path parameter only (any string is valid): there is no invalid request to make
                    if mode is not GenerationMode.NEGATIVE:
                        raise


MISSING = {"error": "Missing authorization token"}
INVALID = {"error": "Invalid authorization token"}


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [(None, MISSING), ("Bearer", MISSING), ("Basic Zm9vOmJhcg==", MISSING), ("Bearer not-a-token", INVALID)],
    ids=["no header", "empty bearer", "basic", "wrong token"],
)
def test_every_protected_operation_refuses_a_missing_or_wrong_token(
    api_schema: OpenApiSchema, fuzz: Fuzz, authorization: str | None, expected: dict[str, str]
) -> None:
    # Given every operation the document marks as protected, with a well-formed request and a malformed one
    operations = _operations(api_schema)
    protected = [op for op in operations if "security" in op.definition.raw]
    assert len(protected) >= 10 and all(op.path not in PUBLIC for op in protected)
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=fuzz.stack.base_url, timeout=10) as c:
        for op in protected:
            path = op.path.replace("{job_id}", "1")
            bodies: list[bytes | None] = [b"{}", b"{nope"] if op.body else [None]
            for body in bodies:
                # When it is sent without a token, or with one that is not a bearer token of ours
                r = c.request(
                    op.method.upper(), path, content=body, headers=headers | {"Content-Type": "application/json"}
                )
                # Then it is refused with 401 in the documented shape, before the input is looked at
                assert (r.status_code, r.json()) == (401, expected), f"{op.label} {body!r}: {r.status_code} {r.text}"
                assert_documented_error(op.path, 401, {k.lower(): v for k, v in r.headers.items()}, r.content)
    # And the public operations answer without one
    for op in operations:
        if "security" not in op.definition.raw:
            assert httpx.get(f"{fuzz.stack.base_url}{op.path}", timeout=10).status_code == 200, op.label


def test_unlisted_methods_and_paths_are_405_and_404_in_the_family_shape(api_schema: OpenApiSchema, fuzz: Fuzz) -> None:
    # Given every path of the served document, and the methods listed for any template it matches
    # (a Recuro job, cron or dead-letter id is an integer: GET /api/jobs/batch is not GET /api/jobs/{job_id})
    listed: dict[str, set[str]] = {}
    for op in _operations(api_schema):
        listed.setdefault(op.path.replace("{job_id}", "1").replace("{cron_id}", "1"), set())
    for op in _operations(api_schema):
        segment = r"\\d+" if op.path.startswith(("/api/jobs/", "/api/crons/", "/api/dead-letters/")) else "[^/]+"
        template = re.compile(re.sub(r"\\\{[a-z_]+\\\}", segment, re.escape(op.path)) + "$")
        for concrete, methods in listed.items():
            if template.match(concrete):
                methods.add(op.method.upper())
    with fuzz.client() as c:
        for path, methods in listed.items():
            for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - methods):
                # When a method none of them lists is used
                r = c.request(method, path)
                # Then 405 names every method the path takes, in the family's shape
                assert r.status_code == 405, f"{method} {path}: {r.status_code} {r.text}"
                assert set(r.headers["allow"].split(", ")) == methods, f"{method} {path}: {r.headers}"
                assert_documented_error(path, 405, {k.lower(): v for k, v in r.headers.items()}, r.content)
        # And an unknown path of either family is 404 in that family's shape
        for path in ("/api/nothing-here", "/jobs/1/nothing-here"):
            r = c.get(path)
            assert r.status_code == 404, r.text
            assert_documented_error(path, 404, {k.lower(): v for k, v in r.headers.items()}, r.content)


# -- what random data rarely hits: the inputs found by reading around the fuzzing, sent to the real stack -----------
# The receiver's host: allowed by the stack's egress policy, so a valid job stays valid (nothing listens on port 9).
SINK = "http://127.0.0.2:9/never"
QUEDUP_JOB = b'{"name": "%s", "method": "POST", "url": "' + SINK.encode() + b'", %s}'


def _quedup(name: str, extra: str) -> bytes:
    return QUEDUP_JOB % (name.encode(), extra.encode())


def _push(extra: str) -> bytes:
    return b'{"queue": "fuzz", "url": "' + SINK.encode() + b'", "delay": 86400, ' + extra.encode() + b"}"


def _cron(extra: str) -> bytes:
    return b'{"name": "c", "url": "' + SINK.encode() + b'", "is_active": false, ' + extra.encode() + b"}"


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/jobs", _quedup("never", '"schedule": "0 0 31 2 *"'), "schedule"),
        ("/api/crons", _cron('"cron_expression": "0 0 30 2 *"'), "cron_expression"),
        ("/jobs", _quedup("late", '"run_at": "9999-12-31T23:59:59-01:00"'), "run_at"),
        ("/jobs", _quedup("early", '"run_at": "0001-01-01T00:00:00+01:00"'), "run_at"),
        ("/api/jobs", b'{"queue": "\xff\xfe", "url": "x"}', "body"),
        ("/jobs", b"[" * 5000 + b"]" * 5000, "body"),
        ("/api/jobs", _push('"headers": {"X-A": "\\ud800"}'), "headers"),
        ("/jobs", _quedup("s", '"body": "\\ud800"'), "body"),
        pytest.param("/api/crons", _cron('"cron_expression": "* * * * *", "payload": "\\udc00"'), "payload"),
        pytest.param("/api/jobs", _push('"payload": {"a": NaN}'), "payload"),
        # Past max_json_depth (64): refused on the body before it is parsed (decision 0031).
        pytest.param("/api/jobs", _push('"payload": {"a": ' + "[" * 300 + "]" * 300 + "}"), "body"),
        ("/api/jobs", b'{"queue": "a\\u0000b", "url": "' + SINK.encode() + b'"}', "queue"),
        ("/api/jobs", _push('"callback_url": "http://127.0.0.1:9092/"'), "callback_url"),
        ("/jobs", b'{"name": "l", "method": "GET", "url": "http://2130706433/"}', "url"),
        ("/api/crons", _cron('"cron_expression": "* * * * *", "headers": {"Host": "x"}'), "headers"),
        ("/api/jobs", _push('"payload": {"a": "\\u0000"}'), "payload"),
    ],
    ids=[
        "cron never fires",
        "recuro cron never fires",
        "run_at after 9999",
        "run_at before 1",
        "not utf-8",
        "deeper than the parser",
        "surrogate header",
        "surrogate body",
        "surrogate cron payload",
        "NaN payload",
        "payload 300 deep",
        "NUL in queue",
        "loopback callback",
        "decimal loopback url",
        "Host header",
        "NUL in payload",
    ],
)
def test_known_bad_inputs_are_422_in_the_family_shape(fuzz: Fuzz, path: str, raw: bytes, field: str) -> None:
    # Given a request the fuzzing taught us about, with a real token
    with fuzz.client() as c:
        # When it is sent to the running stack
        r = c.post(path, content=raw, headers={"Content-Type": "application/json"})
    # Then it is refused on the field at fault, in the family's documented shape
    assert r.status_code == 422, r.text
    assert_documented_error(path, 422, {k.lower(): v for k, v in r.headers.items()}, r.content)
    assert field in r.json()["errors"], r.text


def test_a_page_past_any_database_integer_is_empty(fuzz: Fuzz) -> None:
    with fuzz.client() as c:
        r = c.get("/jobs", params={"offset": 2**63, "limit": 1})
    assert (r.status_code, r.json()) == (200, [])
