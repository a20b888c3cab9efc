"""The sealing of sensitive headers (chronohook/sealing.py, decision 0044): seal and open, wrong and rotated keys,
tampered ciphertext, masking; and the ingest's and executor's use of it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chronohook.cli import dev_secret_key
from chronohook.clock import FixedClock
from chronohook.outbound.sender import SendResult
from chronohook.sealing import (
    MASK,
    PREFIX,
    KeyRing,
    SealError,
    SecretKeyInvalid,
    SecretKeyMissing,
    generate_key,
    is_sealed,
    key_ring,
    masked_document,
    masked_headers,
    parse_key,
)
from chronohook.settings import Settings
from schemas.codec import decode_event, encode_event
from schemas.events import HttpRequestSpec, JobCreated, JobDue, JobFailed, JobPushed, JobSucceeded
from services.executor.secrets import opened, unopened
from services.executor.service import ExecutorService
from services.ingest.secrets import Sealing, merged, sealed_event
from tests.support.fakes import ListProducer

OLD, NEW, OTHER = generate_key(), generate_key(), generate_key()
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _flip(text: str, index: int) -> str:
    """``text`` with the base64 character at ``index`` changed (still valid base64)."""
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


def _tamper_body(sealed: str) -> str:
    head, body = sealed.rsplit(":", 1)
    return f"{head}:{_flip(body, len(body) // 2)}"


def _tamper_wrapped(sealed: str) -> str:
    prefix, kid, wrapped, body = sealed.split(":")
    return f"{prefix}:{kid}:{_flip(wrapped, 20)}:{body}"


def _tamper_kid(sealed: str) -> str:
    prefix, _kid, wrapped, body = sealed.split(":")
    return f"{prefix}:deadbeef:{wrapped}:{body}"


# (case, ring that seals, ring that opens, what is done to the sealed value, tenant/name it is opened as, outcome)
CASES: list[tuple[str, KeyRing, KeyRing, Callable[[str], str], tuple[str, str], str | None]] = [
    ("same key", KeyRing.of(NEW), KeyRing.of(NEW), str, ("acme", "Authorization"), "Bearer s3cret"),
    ("name case does not matter", KeyRing.of(NEW), KeyRing.of(NEW), str, ("acme", "AUTHORIZATION"), "Bearer s3cret"),
    (
        "rotated: old key retired",
        KeyRing.of(OLD),
        KeyRing.of(NEW, OLD),
        str,
        ("acme", "Authorization"),
        "Bearer s3cret",
    ),
    (
        "rotated: among several retired",
        KeyRing.of(OLD),
        KeyRing.of(NEW, f"{OTHER},{OLD}"),
        str,
        ("acme", "Authorization"),
        "Bearer s3cret",
    ),
    (
        "retired only (no current key)",
        KeyRing.of(OLD),
        KeyRing.of(None, OLD),
        str,
        ("acme", "Authorization"),
        "Bearer s3cret",
    ),
    ("wrong key", KeyRing.of(OLD), KeyRing.of(NEW), str, ("acme", "Authorization"), None),
    ("old key dropped after rotation", KeyRing.of(OLD), KeyRing.of(NEW, OTHER), str, ("acme", "Authorization"), None),
    ("tampered ciphertext", KeyRing.of(NEW), KeyRing.of(NEW), _tamper_body, ("acme", "Authorization"), None),
    ("tampered wrapped data key", KeyRing.of(NEW), KeyRing.of(NEW), _tamper_wrapped, ("acme", "Authorization"), None),
    ("unknown key id", KeyRing.of(NEW), KeyRing.of(NEW), _tamper_kid, ("acme", "Authorization"), None),
    ("truncated", KeyRing.of(NEW), KeyRing.of(NEW), lambda s: s[:20], ("acme", "Authorization"), None),
    ("another tenant's value", KeyRing.of(NEW), KeyRing.of(NEW), str, ("globex", "Authorization"), None),
    ("moved to another header", KeyRing.of(NEW), KeyRing.of(NEW), str, ("acme", "Cookie"), None),
]


@pytest.mark.parametrize(
    ("sealer", "opener", "change", "as_", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_seal_then_open(
    sealer: KeyRing, opener: KeyRing, change: Callable[[str], str], as_: tuple[str, str], expected: str | None
) -> None:
    # Given a value sealed for tenant acme's Authorization header, maybe altered on the way
    sealed = change(sealer.seal("Bearer s3cret", "acme", "Authorization"))
    assert "s3cret" not in sealed and sealed.startswith(PREFIX)
    # When it is opened (as a tenant and header), Then it gives the clear value back, or refuses: never a wrong one
    if expected is None:
        with pytest.raises(SealError):
            opener.open(sealed, *as_)
    else:
        assert opener.open(sealed, *as_) == expected


def test_every_seal_is_fresh_and_names_the_current_key() -> None:
    # Given one ring, When the same value is sealed twice, Then the two differ (a fresh data key and nonce each)
    ring = KeyRing.of(NEW, OLD)
    a, b = ring.seal("x", "t", "Cookie"), ring.seal("x", "t", "Cookie")
    assert a != b
    # And both name the current key, not the retired one
    assert a.split(":")[1] == b.split(":")[1] == ring.current_id


@pytest.mark.parametrize(
    ("ring", "value", "expected"),
    [
        (KeyRing.of(NEW), "chs1:already:sealed:here", "chs1:already:sealed:here"),  # never sealed twice
        (KeyRing(), "Bearer clear", "Bearer clear"),  # no key (CHRONOHOOK_SECRETS_IN_CLEAR): as it is
    ],
)
def test_seal_leaves_alone(ring: KeyRing, value: str, expected: str) -> None:
    assert ring.seal(value, "t", "Authorization") == expected


def test_open_takes_clear_values_as_they_are() -> None:
    # Older events hold clear values: they still go out as they are
    assert KeyRing.of(NEW).open("Bearer old", "t", "Authorization") == "Bearer old"
    assert KeyRing().open("Bearer old", "t", "Authorization") == "Bearer old"


@pytest.mark.parametrize(
    "text",
    ["", "not base64 at all!", "c2hvcnQ=", generate_key() + "AAAA", "é" * 44],
)
def test_a_key_must_be_32_bytes_of_urlsafe_base64(text: str) -> None:
    with pytest.raises(SecretKeyInvalid) as caught:
        parse_key(text)
    assert text not in str(caught.value) or text == ""  # the message never repeats the key


def test_a_service_without_a_key_refuses_unless_told_to_store_in_clear() -> None:
    with pytest.raises(SecretKeyMissing, match=r"executor needs CHRONOHOOK_SECRET_KEY"):
        key_ring(None, None, in_clear=False, service="executor")
    assert not key_ring(None, None, in_clear=True, service="executor").seals
    assert key_ring(NEW, None, in_clear=False, service="ingest").seals


@pytest.mark.parametrize(
    ("headers", "extra", "expected"),
    [
        ({"Authorization": "Bearer a"}, (), {"Authorization": MASK}),
        (
            {"authorization": "a", "COOKIE": "b", "x-api-key": "c"},
            (),
            {"authorization": MASK, "COOKIE": MASK, "x-api-key": MASK},
        ),
        ({"Proxy-Authorization": "Basic x"}, (), {"Proxy-Authorization": MASK}),
        ({"X-Token": "t", "Accept": "json"}, ("x-token",), {"X-Token": MASK, "Accept": "json"}),
        ({"X-Other": "chs1:k:w:v"}, (), {"X-Other": MASK}),  # sealed under a name no longer listed: still masked
        ({"Accept": "json"}, (), {"Accept": "json"}),
    ],
)
def test_masked_headers(headers: dict[str, str], extra: tuple[str, ...], expected: dict[str, str]) -> None:
    assert masked_headers(headers, extra) == expected


def test_masked_document_masks_headers_anywhere_and_leaves_bodies() -> None:
    # Given a history payload: a request with its own extra name, an outcome's request headers, a body naming a header
    payload = {
        "request": {
            "headers": {"Authorization": "Bearer a", "X-Sig": "s", "Accept": "json"},
            "sensitive_headers": ["X-Sig"],
            "body": '{"Authorization": "in the body"}',
        },
        "outcome": {"request_headers": {"Cookie": "c=1", "X-Chronohook-Run-Id": "r"}, "response_headers": {"A": "b"}},
        "list": [{"headers": {"X-Api-Key": "k"}}, "chs1:a:b:c"],
        "payload": {"headers": {"Authorization": "a body's own"}},
    }
    # When it is masked
    out = masked_document(payload)
    # Then every sensitive header reads ***, the body and other headers as they were
    assert out["request"]["headers"] == {"Authorization": MASK, "X-Sig": MASK, "Accept": "json"}
    assert out["request"]["body"] == payload["request"]["body"]  # type: ignore[index]
    assert out["outcome"]["request_headers"] == {"Cookie": MASK, "X-Chronohook-Run-Id": "r"}
    assert out["outcome"]["response_headers"] == {"A": "b"}
    assert out["list"] == [{"headers": {"X-Api-Key": MASK}}, MASK]
    assert out["payload"] == payload["payload"]  # a Recuro payload is a body: as it is


def _created(headers: dict[str, str], sensitive: tuple[str, ...] = ()) -> JobCreated:
    return JobCreated(
        event_id="e1", job_id="job_1", tenant="acme", occurred_at=NOW, api="quedup", name="n",
        request=HttpRequestSpec(method="POST", url="http://127.0.0.1/x", headers=headers, sensitive_headers=sensitive),
    )  # fmt: skip


def test_ingest_seals_default_and_job_names_and_nothing_else() -> None:
    # Given a job with Authorization, a header of its own it calls sensitive, and an ordinary one
    event = _created({"Authorization": "Bearer s3cret", "X-Sig": "sig-value", "Accept": "json"}, ("x-sig",))
    # When ingest seals it
    sealed = sealed_event(KeyRing.of(NEW), event)
    headers = sealed.request.headers  # type: ignore[attr-defined]
    # Then both sensitive values are sealed, the ordinary one is not, and the encoded event holds no clear value
    assert is_sealed(headers["Authorization"]) and is_sealed(headers["X-Sig"]) and headers["Accept"] == "json"
    raw = encode_event(sealed)
    assert b"s3cret" not in raw and b"sig-value" not in raw
    # And the event still decodes as the same type (the shape did not change)
    assert decode_event(raw) == sealed


def test_a_push_takes_its_queues_names_too() -> None:
    # Given a queue whose settings name X-Queue-Secret
    push = JobPushed(
        event_id="e", job_id="rj_1", tenant="acme", occurred_at=NOW, integer_id=1, queue="q", queue_id=7,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.1/x", headers={"X-Queue-Secret": "qs"}),
        scheduled_at=NOW,
    )  # fmt: skip
    asked: list[tuple[str, str]] = []

    def names(tenant: str, queue: str) -> tuple[str, ...]:
        asked.append((tenant, queue))
        return ("X-Queue-Secret",)

    sealing = Sealing(KeyRing.of(NEW), names, clock=lambda: 0.0)
    # When two pushes to it are sealed
    out = asyncio.run(sealing.seal([push, push]))
    asyncio.run(sealing.seal([push]))
    # Then the value is sealed, the job carries the queue's name, and the queue was read once (cached)
    request = out[0].request  # type: ignore[attr-defined]
    assert is_sealed(request.headers["X-Queue-Secret"]) and request.sensitive_headers == ("X-Queue-Secret",)
    assert asked == [("acme", "q")]


def test_merged_keeps_each_name_once() -> None:
    assert merged(("X-A", "x-b"), ("x-a", "X-C")) == ("X-A", "x-b", "X-C")


def _due(headers: dict[str, str]) -> JobDue:
    return JobDue(
        event_id="d", job_id="job_1", tenant="acme", occurred_at=NOW, run_id="job_1:1:1", due_at=NOW,
        request=HttpRequestSpec(method="POST", url="http://127.0.0.1/x", headers=headers),
    )  # fmt: skip


def test_executor_opens_old_events_after_a_rotation() -> None:
    # Given a due job sealed under the old key, and an executor rotated to the new key with the old one retired
    old = KeyRing.of(OLD)
    due = _due({"Authorization": old.seal("Bearer s3cret", "acme", "Authorization"), "Accept": "json"})
    executor = KeyRing.of(NEW, OLD)
    # When it prepares the send
    request, wire = opened(executor, due.request, dict(due.request.headers), due.tenant)
    # Then the wire and the request carry the clear value
    assert wire["Authorization"] == "Bearer s3cret" and request.headers["Authorization"] == "Bearer s3cret"
    # And an event written before sealing existed (clear values) goes out as it is
    clear = _due({"Authorization": "Bearer old"})
    assert opened(executor, clear.request, dict(clear.request.headers), "acme")[1]["Authorization"] == "Bearer old"


def test_executor_fails_the_attempt_when_a_value_does_not_open() -> None:
    # Given a value sealed under a key this executor does not have
    due = _due({"Authorization": KeyRing.of(OTHER).seal("Bearer s3cret", "acme", "Authorization")})
    # When it prepares the send, Then it refuses, and the attempt's result says why without the value
    with pytest.raises(SealError) as caught:
        opened(KeyRing.of(NEW, OLD), due.request, dict(due.request.headers), due.tenant)
    result = unopened(caught.value)
    assert result.failure_reason == "unknown" and result.status is None
    assert result.error_message is not None and "CHRONOHOOK_SECRET_KEYS_RETIRED" in result.error_message


@pytest.mark.parametrize(
    ("current", "retired", "names"),
    [
        ("not-a-key", None, "CHRONOHOOK_SECRET_KEY:"),
        (NEW, f"{OLD},short", "CHRONOHOOK_SECRET_KEYS_RETIRED, key 2:"),
    ],
)
def test_a_malformed_key_is_named_never_printed(current: str, retired: str | None, names: str) -> None:
    with pytest.raises(SecretKeyInvalid) as caught:
        KeyRing.of(current, retired)
    assert str(caught.value).startswith(names)
    assert "not-a-key" not in str(caught.value) and "short" not in str(caught.value)


def test_dev_keeps_its_key_in_the_data_directory(tmp_path: Path) -> None:
    # Given a fresh data directory, When dev asks for its key twice
    first = dev_secret_key(tmp_path)
    again = dev_secret_key(tmp_path)
    # Then it made one, kept it owner-only, and gave the same one back (what it sealed still opens after a restart)
    assert first == again and parse_key(first)
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600


class _Sender:
    """Keeps what each send put on the wire."""

    def __init__(self) -> None:
        self.wire: list[tuple[dict[str, str], dict[str, str]]] = []

    async def send(self, request: HttpRequestSpec, headers: dict[str, str]) -> SendResult:
        self.wire.append((dict(request.headers), headers))
        return SendResult(started_at_monotonic=0.0, duration_ms=1.0, status=200, headers={}, body="ok")

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("ring", "sealed_by", "sent"),
    [
        (KeyRing.of(NEW, OLD), KeyRing.of(OLD), True),  # rotated: the old key is retired, still opens
        (KeyRing.of(NEW), KeyRing(), True),  # an event from before sealing: clear, sent as it is
        (KeyRing.of(NEW), KeyRing.of(OTHER), False),  # a key this executor lacks: the attempt fails unsent
    ],
)
def test_the_executor_sends_clear_and_records_sealed(
    tmp_path: Path, ring: KeyRing, sealed_by: KeyRing, sent: bool
) -> None:
    # Given an executor with its key ring, and a due job whose Authorization was sealed (or not) by an ingest
    sender, producer = _Sender(), ListProducer()
    service = ExecutorService(
        Settings(data_dir=tmp_path), FixedClock(NOW), sender, producer,  # type: ignore[arg-type]
        secrets=ring,
    )  # fmt: skip
    stored = sealed_by.seal("Bearer s3cret", "acme", "Authorization")
    # When it executes the attempt
    asyncio.run(service.execute(_due({"Authorization": stored})))
    [result] = producer.events
    assert isinstance(result, JobSucceeded | JobFailed)
    if sent:
        # Then the wire and the request it sent carried the clear value, and the run records the stored one
        [(request_headers, wire)] = sender.wire
        assert wire["Authorization"] == request_headers["Authorization"] == "Bearer s3cret"
        assert isinstance(result, JobSucceeded) and result.outcome.request_headers["Authorization"] == stored
    else:
        # Then nothing went out and the attempt failed, saying which key it lacks, without the value
        assert sender.wire == [] and isinstance(result, JobFailed) and result.failure_reason == "unknown"
        assert result.error_message is not None and stored.split(":")[1] in result.error_message
        assert b"s3cret" not in encode_event(result)


def test_a_large_batch_is_sealed_whole() -> None:
    # Given a batch of 200 pushes (sealed in a worker thread past 64), each with an Authorization header
    pushes = [
        JobPushed(
            event_id=f"e{n}", job_id=f"rj_{n}", tenant="acme", occurred_at=NOW, integer_id=n, queue="q", queue_id=7,
            request=HttpRequestSpec(method="POST", url="http://127.0.0.1/x", headers={"Authorization": f"t{n}"}),
            scheduled_at=NOW,
        )
        for n in range(200)
    ]  # fmt: skip
    # When it is sealed, Then every one is, in order, and opens to its own value
    out = asyncio.run(Sealing(KeyRing.of(NEW)).seal(list(pushes)))
    ring = KeyRing.of(NEW)
    assert [ring.open(e.request.headers["Authorization"], "acme", "Authorization") for e in out] == [  # type: ignore[attr-defined]
        f"t{n}" for n in range(200)
    ]
