"""Versions per event type: old documents are upcast on read through their type's chain, current ones take the
fast path, versions nobody wrote are a CodecError, and every version of every type has its JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schemas import codec
from schemas import export as ex
from schemas.codec import CodecError, decode_event, encode_event
from schemas.events import CURRENT_VERSIONS, EVENT_TYPES, JobDeadLettered
from schemas.legacy import FROZEN, JobDeadLetteredV1
from schemas.upcasters import UPCASTERS, job_dead_lettered_v1_to_v2
from tests.unit.test_schema_export import JSON_DIR, load_schema, validate

T0 = datetime(2026, 4, 10, 14, 5, 0, tzinfo=UTC)
BASE: dict[str, Any] = {"event_id": "evt_7", "job_id": "rj_847", "tenant": "t1", "occurred_at": T0}


def v1_dead_letter(*, retries_enabled: bool, purge_at: datetime | None = None) -> bytes:
    """A JobDeadLettered as a version-1 timer wrote it: the frozen v1 model, encoded."""
    old = JobDeadLetteredV1(
        **BASE, failed_run_id="rj_847:1:3", attempts=3, retries_enabled=retries_enabled, purge_at=purge_at
    )
    return encode_event(old)


def doc_of(data: bytes) -> dict[str, Any]:
    doc = json.loads(data)
    assert isinstance(doc, dict)
    return doc


# -- upcasting -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retries_enabled", "final_status", "purge_at"),
    [(True, "dead_lettered", T0 + timedelta(days=14)), (False, "failed_no_retries", None)],
    ids=["dead-lettered", "failed-no-retries"],
)
def test_a_v1_dead_letter_is_read_as_the_v2_model(retries_enabled: bool, final_status: str, purge_at: Any) -> None:
    # Given a JobDeadLettered as a version-1 timer wrote it
    data = v1_dead_letter(retries_enabled=retries_enabled, purge_at=purge_at)
    assert doc_of(data)["schema_version"] == 1
    # When it is decoded today
    event = decode_event(data)
    # Then it is the version-2 event that says how the job ended, everything else as written
    assert event == JobDeadLettered(
        **BASE, failed_run_id="rj_847:1:3", attempts=3, final_status=final_status, purge_at=purge_at
    )
    assert event.schema_version == CURRENT_VERSIONS["JobDeadLettered"] == 2


def test_a_v1_document_without_schema_version_is_version_1() -> None:
    # Given a v1 dead letter written before the envelope had schema_version
    doc = doc_of(v1_dead_letter(retries_enabled=True))
    del doc["schema_version"]
    # When it is decoded
    event = decode_event(json.dumps(doc))
    # Then it was read as version 1 and upcast
    assert isinstance(event, JobDeadLettered) and event.final_status == "dead_lettered"


def test_the_upcaster_is_pure() -> None:
    # Given a v1 document
    doc = doc_of(v1_dead_letter(retries_enabled=False))
    before = json.dumps(doc, sort_keys=True)
    # When it is upcast
    out = job_dead_lettered_v1_to_v2(doc)
    # Then a new v2 document comes back and the input is untouched
    assert out["final_status"] == "failed_no_retries" and "retries_enabled" not in out and out["schema_version"] == 2
    assert json.dumps(doc, sort_keys=True) == before


@pytest.mark.parametrize("value", [None, "yes", 1], ids=["missing", "text", "number"])
def test_a_v1_dead_letter_without_a_boolean_retries_enabled_is_a_codec_error(value: object) -> None:
    # Given a v1 dead letter whose retries_enabled is missing or not a boolean
    doc = doc_of(v1_dead_letter(retries_enabled=True))
    if value is None:
        del doc["retries_enabled"]
    else:
        doc["retries_enabled"] = value
    # When it is decoded
    # Then it is a CodecError that names the type and version it could not upcast
    with pytest.raises(CodecError, match="cannot upcast JobDeadLettered v1"):
        decode_event(json.dumps(doc))


def test_a_v2_document_decodes_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a v2 dead letter from today's timer, and an upcasting path that fails if it is taken
    data = encode_event(JobDeadLettered(**BASE, failed_run_id="r", attempts=1, final_status="failed_no_retries"))

    def no_upcast(doc: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"took the upcasting path for {doc}")

    monkeypatch.setattr(codec, "upcast", no_upcast)
    # When it is decoded
    event = decode_event(data)
    # Then it came straight from JSON (the fast path), as written
    assert isinstance(event, JobDeadLettered) and event.final_status == "failed_no_retries"


def test_a_v1_document_takes_the_upcasting_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a v1 dead letter, and a spy on the upcasting path
    seen: list[int] = []
    real = codec.upcast

    def spy(doc: dict[str, Any]) -> dict[str, Any]:
        seen.append(doc["schema_version"])
        return real(doc)

    monkeypatch.setattr(codec, "upcast", spy)
    # When it is decoded
    decode_event(v1_dead_letter(retries_enabled=True))
    # Then it went through the upcasters, once, from version 1
    assert seen == [1]


@pytest.mark.parametrize("version", [3, 0, -1, "2", True, None], ids=["3", "0", "-1", "text", "bool", "null"])
def test_a_version_nobody_wrote_is_a_codec_error(version: object) -> None:
    # Given a dead letter claiming a version above the current one, below 1, or not an integer
    doc = doc_of(encode_event(JobDeadLettered(**BASE, failed_run_id="r", attempts=1, final_status="dead_lettered")))
    doc["schema_version"] = version
    # When it is decoded
    # Then the CodecError names the version, the type and the type's current version
    with pytest.raises(CodecError, match=r"unsupported schema_version .* of JobDeadLettered \(current: 2\)"):
        decode_event(json.dumps(doc))


def test_a_type_still_at_version_1_refuses_version_2() -> None:
    # Given a JobPaused (still at version 1) claiming version 2, the dead letter's current version
    doc = {**BASE, "occurred_at": T0.isoformat(), "type": "JobPaused", "schema_version": 2}
    # When it is decoded
    # Then versions are per type: 2 is unknown for JobPaused
    with pytest.raises(CodecError, match=r"schema_version 2 of JobPaused \(current: 1\)"):
        decode_event(json.dumps(doc))


# -- the registry is complete -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", EVENT_TYPES, ids=lambda m: m.__name__)
def test_every_type_has_an_upcaster_and_a_frozen_model_for_each_older_version(model: type) -> None:
    # Given an event type and its current version n
    name = model.__name__
    current = CURRENT_VERSIONS[name]
    # Then its upcasters take each version 1..n-1 one step up, and each older version has its frozen model
    assert sorted(UPCASTERS.get(name, {})) == list(range(1, current))
    assert sorted(v for (n, v) in FROZEN if n == name) == list(range(1, current))


def test_no_upcasters_or_frozen_models_for_unknown_types() -> None:
    # Given the registries
    # Then they name only event types that exist
    assert set(UPCASTERS) <= set(CURRENT_VERSIONS)
    assert {name for name, _ in FROZEN} <= set(CURRENT_VERSIONS)


# -- schemas of every version -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version"),
    [(m.__name__, v) for m in EVENT_TYPES for v in range(1, CURRENT_VERSIONS[m.__name__] + 1)],
    ids=lambda x: str(x),
)
def test_every_version_of_every_type_has_its_schema_file(name: str, version: int) -> None:
    # Given an event type and one of its versions
    # When its schema file is read
    schema = json.loads((JSON_DIR / ex.schema_file(name, version)).read_text(encoding="utf-8"))
    # Then it is that type's schema, pinned to that version
    assert schema["$id"] == f"chronohook/events/{name}.v{version}.json"
    assert schema["properties"]["type"]["const"] == name
    assert schema["properties"]["schema_version"]["const"] == version


def test_each_version_of_the_dead_letter_validates_against_its_own_schema_only() -> None:
    # Given a v1 dead letter as an old timer wrote it, and a v2 one as today's writes it
    v1 = doc_of(v1_dead_letter(retries_enabled=True, purge_at=T0))
    v2 = doc_of(encode_event(JobDeadLettered(**BASE, failed_run_id="r", attempts=1, final_status="dead_lettered")))
    s1 = json.loads((JSON_DIR / ex.schema_file("JobDeadLettered", 1)).read_text(encoding="utf-8"))
    s2 = load_schema("JobDeadLettered")
    # Then each validates against its version's schema, and not against the other's
    assert validate(v1, s1, s1) == []
    assert validate(v2, s2, s2) == []
    assert validate(v1, s2, s2) != []
    assert validate(v2, s1, s1) != []
