"""The timer's changelog record as a versioned contract type: entry JSON in the value, its version in a header.

A record's value is the entry's JSON as ``schemas/changelog.py`` defines it; its version is the
``changelog-version`` header (``VERSION_HEADER``), so the value stays the plain entry that any reader of the topic
already understands, and the current version decodes straight from bytes without a second parse. A record without
the header was written before versions existed: it is version 1, today's shape. An older version runs through
``UPCASTERS[n]`` (version n to n + 1, pure functions of the decoded JSON object, like the events' upcasters in
``schemas/upcasters.py``) and then validates against the current models. A version above the current one, below 1
or not an integer is a ``ChangelogCodecError``: deploy readers before writers. Records are upcast on read and never
rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from pydantic import ValidationError

from schemas.changelog import Entry, decode_entry

CURRENT_VERSION: Final = 1
VERSION_HEADER: Final = "changelog-version"
# Version n -> n + 1; empty while there is only version 1.
UPCASTERS: dict[int, Callable[[Mapping[str, Any]], dict[str, Any]]] = {}

_CURRENT_HEADER: Final = str(CURRENT_VERSION).encode()


class ChangelogCodecError(ValueError):
    """Bytes that are not a timer entry of a version this code reads."""


def encode(entry: Entry) -> bytes:
    """The record's value at the current version (its header: ``headers()``)."""
    return entry.model_dump_json().encode()


def headers() -> list[tuple[str, bytes]]:
    return [(VERSION_HEADER, _CURRENT_HEADER)]


def version_of(record_headers: Iterable[tuple[str, bytes | None]] | None) -> int:
    """The version a record's headers declare; 1 when they declare none (written before versions existed)."""
    found: bytes | None = None
    for name, raw in record_headers or ():
        if name == VERSION_HEADER:
            found = raw
    if found is None:
        return 1
    try:
        return int(found.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChangelogCodecError(f"{VERSION_HEADER} {found!r} is not an integer") from exc


def decode(value: bytes | str, version: int = CURRENT_VERSION) -> Entry:
    """The entry a record holds, read at ``version`` and upcast to the current one; ChangelogCodecError (a
    ValueError) and never another exception, whatever the bytes (MemoryError aside: that is the process's, not the
    record's)."""
    if type(version) is not int or version < 1 or version > CURRENT_VERSION:
        raise ChangelogCodecError(f"unsupported changelog version {version!r} (current: {CURRENT_VERSION})")
    try:
        if version == CURRENT_VERSION:
            return decode_entry(value)
        doc = json.loads(value)
        if not isinstance(doc, dict):
            raise ChangelogCodecError("a changelog entry must be a JSON object")
        while version < CURRENT_VERSION:
            doc = UPCASTERS[version](doc)
            version += 1
        return decode_entry(json.dumps(doc))
    except ChangelogCodecError:
        raise
    except (ValidationError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChangelogCodecError(f"not a changelog entry: {_clip(str(exc))}") from exc
    except MemoryError:
        raise
    except Exception as exc:  # RecursionError (deep nesting), ValueError (an int over 4,300 digits), TypeError ...
        raise ChangelogCodecError(f"not a changelog entry: {type(exc).__name__}: {_clip(str(exc))}") from exc


_MESSAGE_MAX = 500


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[:_MESSAGE_MAX] + "..."
