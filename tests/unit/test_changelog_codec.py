"""The changelog record's codec: a version per record in a header, unversioned records read as version 1,
older versions upcast on read, newer ones refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import changelog_codec
from schemas.changelog import CallbackEntry, TimerEntry
from schemas.changelog_codec import ChangelogCodecError
from schemas.events import HttpRequestSpec, RetryPolicy

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ENTRY = TimerEntry(
    job_id="job_1", tenant="t1", api="quedup", request=HttpRequestSpec(method="GET", url="http://127.0.0.2:9/x"),
    retry=RetryPolicy(), next_due=T0,
)  # fmt: skip


def test_an_entry_round_trips_at_the_current_version_with_its_header() -> None:
    # Given an entry encoded as the timer writes it
    value, headers = changelog_codec.encode(ENTRY), changelog_codec.headers()
    # When it is read back with the version its headers declare
    version = changelog_codec.version_of(headers)
    # Then it is the current version and decodes to the same entry
    assert version == changelog_codec.CURRENT_VERSION
    assert changelog_codec.decode(value, version) == ENTRY


def test_an_unversioned_record_from_before_versions_reads_as_version_1() -> None:
    # Given a record as the timer wrote it before versions: the entry's JSON, no header at all
    legacy = CallbackEntry(
        callback_id="cb:r1", job_id="j", tenant="t1", run_id="r1", url="http://127.0.0.2/", body="{}"
    )
    value = legacy.model_dump_json().encode()
    # When it is read
    version = changelog_codec.version_of(None)
    # Then it is version 1 and decodes to the entry it held
    assert version == 1
    assert changelog_codec.decode(value, version) == legacy
    assert changelog_codec.version_of([("type", b"x")]) == 1


def test_an_older_version_is_upcast_on_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a codec at version 2 whose v1 -> v2 upcaster renames a field
    def v1_to_v2(doc: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in doc.items() if k != "owner"}
        out["tenant"] = doc["owner"]
        return out

    monkeypatch.setattr(changelog_codec, "CURRENT_VERSION", 2)
    monkeypatch.setitem(changelog_codec.UPCASTERS, 1, v1_to_v2)
    old = ENTRY.model_dump(mode="json")
    old["owner"] = old.pop("tenant")
    # When a version-1 record is read
    entry = changelog_codec.decode(json.dumps(old).encode(), 1)
    # Then it comes out as the current model
    assert entry == ENTRY


@pytest.mark.parametrize("header", [b"2", b"0", b"-1"])
def test_a_version_this_code_does_not_know_is_refused(header: bytes) -> None:
    # Given a record from a newer writer (or a broken one)
    version = changelog_codec.version_of([(changelog_codec.VERSION_HEADER, header)])
    # When it is decoded / Then it is a codec error, not a guess
    with pytest.raises(ChangelogCodecError):
        changelog_codec.decode(changelog_codec.encode(ENTRY), version)


def test_garbage_is_a_codec_error() -> None:
    with pytest.raises(ChangelogCodecError):
        changelog_codec.version_of([(changelog_codec.VERSION_HEADER, b"one")])
    with pytest.raises(ChangelogCodecError):
        changelog_codec.decode(b"\xff not json")
    with pytest.raises(ChangelogCodecError):
        changelog_codec.decode(b'{"job_id": 1}')
