"""Fuzzing both codecs: whatever the bytes, decoding answers the value or the codec's typed error, never another
exception (a consumer sets a record aside on the typed error and moves on; anything else would stop it)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import changelog_codec
from schemas.changelog_codec import ChangelogCodecError
from schemas.codec import CodecError, decode_event
from schemas.events import CURRENT_VERSIONS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

# JSON-ish values: what a producer that writes JSON but not our events could put on a topic.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
event_types = st.sampled_from(sorted(CURRENT_VERSIONS))


@st.composite
def event_like(draw: st.DrawFn) -> bytes:
    """A JSON object that names a real event type, with some of an event's fields and some noise."""
    doc: dict[str, Any] = {"type": draw(event_types)}
    fields = ["event_id", "job_id", "tenant", "occurred_at", "schema_version", "request", "scheduled_at", "integer_id"]
    doc |= draw(st.dictionaries(st.sampled_from(fields), json_values, max_size=6))
    return json.dumps(doc).encode()


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


# Shapes a hostile or broken writer produced in the review: deep nesting, integers past Python's 4,300 digits.
HOSTILE = [
    nested(100_000),
    nested(100_000)[:100_000],  # unclosed
    b'{"a":' * 100_000,
    nested(1_000),
    b'{"type": "JobPushed", "integer_id": ' + b"9" * 5_000 + b"}",
    b'{"type": "JobDue", "schema_version": ' + b"9" * 5_000 + b"}",
    b'{"type": "JobPushed", "request": ' + nested(50_000) + b"}",
    b"9" * 5_000,
    b"-" + b"9" * 10_000,
    b'"\\ud800"',
    b"\xff\xfe",
    b"",
    b"null",
    b'{"type": "JobPushed", "occurred_at": "9999-12-31T23:59:59-01:00"}',
    b'{"type": "JobPushed", "integer_id": 1e400}',
]


def _event_or_codec_error(data: Any) -> None:
    with contextlib.suppress(CodecError):
        decode_event(data)


def _entry_or_codec_error(data: Any, version: Any = changelog_codec.CURRENT_VERSION) -> None:
    with contextlib.suppress(ChangelogCodecError):
        changelog_codec.decode(data, version)


@pytest.mark.parametrize("data", HOSTILE, ids=lambda d: repr(d[:24]))
def test_hostile_event_bytes_are_a_codec_error(data: bytes) -> None:
    # Given bytes from the review's hostile writer. When they are decoded. Then CodecError, nothing else
    with pytest.raises(CodecError):
        decode_event(data)


@pytest.mark.parametrize("data", HOSTILE, ids=lambda d: repr(d[:24]))
def test_hostile_changelog_bytes_are_a_changelog_codec_error(data: bytes) -> None:
    with pytest.raises(ChangelogCodecError):
        changelog_codec.decode(data)


def test_values_that_are_not_bytes_are_a_codec_error() -> None:
    # Given values a consumer might hand over by mistake (a tombstone's None, an int). Then the typed error
    for value in (None, 5, 1.5, [b"x"], object()):
        with pytest.raises(CodecError):
            decode_event(value)  # type: ignore[arg-type]
        with pytest.raises(ChangelogCodecError):
            changelog_codec.decode(value)  # type: ignore[arg-type]


def test_both_typed_errors_are_value_errors() -> None:
    # The timer's changelog reader catches (TimerError, ValueError); the executor's RECORD_FAULTS hold ValueError.
    assert issubclass(CodecError, ValueError)
    assert issubclass(ChangelogCodecError, ValueError)


@FUZZ
@given(st.binary(max_size=2_000))
def test_any_bytes_decode_to_an_event_or_a_codec_error(data: bytes) -> None:
    _event_or_codec_error(data)
    _entry_or_codec_error(data)


@FUZZ
@given(st.text(max_size=500))
def test_any_text_decodes_to_an_event_or_a_codec_error(data: str) -> None:
    _event_or_codec_error(data)
    _entry_or_codec_error(data)


@FUZZ
@given(json_values)
def test_any_json_value_decodes_to_an_event_or_a_codec_error(value: Any) -> None:
    data = json.dumps(value).encode()
    _event_or_codec_error(data)
    _entry_or_codec_error(data)


@FUZZ
@given(event_like())
def test_event_shaped_json_decodes_to_an_event_or_a_codec_error(data: bytes) -> None:
    _event_or_codec_error(data)


@FUZZ
@given(st.integers(min_value=1, max_value=200_000), st.sampled_from([b"[", b'{"a":', b'{"type":"JobDue","x":[']))
def test_any_nesting_depth_is_a_codec_error(depth: int, opener: bytes) -> None:
    data = opener * depth
    with pytest.raises(CodecError):
        decode_event(data)
    with pytest.raises(ChangelogCodecError):
        changelog_codec.decode(data)


@FUZZ
@given(st.integers(min_value=1, max_value=20_000), st.sampled_from(["JobPushed", "JobDue", "CallbackDue"]))
def test_any_integer_length_decodes_to_an_event_or_a_codec_error(digits: int, kind: str) -> None:
    data = f'{{"type": "{kind}", "integer_id": {"7" * digits}, "schema_version": {"1" * digits}}}'.encode()
    _event_or_codec_error(data)
    _entry_or_codec_error(data)


@FUZZ
@given(st.binary(max_size=200), st.one_of(st.integers(), st.none(), st.text(max_size=5)))
def test_any_changelog_version_is_an_entry_or_a_changelog_codec_error(data: bytes, version: Any) -> None:
    _entry_or_codec_error(data, version)


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=20), st.one_of(st.none(), st.binary(max_size=30))), max_size=4))
def test_any_changelog_headers_give_a_version_or_a_changelog_codec_error(
    headers: list[tuple[str, bytes | None]],
) -> None:
    with contextlib.suppress(ChangelogCodecError):
        changelog_codec.version_of(headers)
