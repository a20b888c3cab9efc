"""The one codec between bytes on a topic and events. Old versions are upcast on read, never rewritten.

Versions are per event type (``CURRENT_VERSIONS``): a document of type T at version n < T's current one runs
through T's upcasters (``schemas/upcasters.py``) to T's current version, then validates against T's model. A
version above T's current one, below 1, or not an integer is a ``CodecError``: deploy readers before writers.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.events import CURRENT_VERSIONS, Envelope, Event
from schemas.upcasters import UPCASTERS, Upcaster, UpcastError

__all__ = ["UPCASTERS", "CodecError", "EventCodec", "Upcaster", "decode_event", "encode_event", "upcast"]


class CodecError(ValueError):
    """Bytes that are not a valid chronohook event (bad JSON, unknown type or version, wrong fields)."""


_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def upcast(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` at its type's current version: through the type's upcasters, one version at a time."""
    kind = doc.get("type")
    if not isinstance(kind, str) or kind not in CURRENT_VERSIONS:
        raise CodecError(f"unknown event type {kind!r}")
    current = CURRENT_VERSIONS[kind]
    version = doc.get("schema_version", 1)  # records from before the field existed are version 1
    if type(version) is not int or version < 1 or version > current:
        raise CodecError(f"unsupported schema_version {version!r} of {kind} (current: {current})")
    chain = UPCASTERS.get(kind, {})
    while version < current:
        try:
            doc = chain[version](doc)
        except UpcastError as exc:
            raise CodecError(f"cannot upcast {kind} v{version}: {exc}") from exc
        version += 1
        doc["schema_version"] = version
    return doc


def decode_event(data: bytes | str) -> Event:
    """The event ``data`` holds, or CodecError: never another exception, whatever the bytes (a consumer sets the
    record aside on CodecError and moves on, so anything else escaping here would stop it on one record)."""
    try:
        return _decode(data)
    except CodecError:
        raise
    except MemoryError:
        # Not the record's fault as far as anyone can tell (records are bounded by the broker's message size): the
        # process is short of memory, and setting a valid record aside would lose it. Let the supervisor restart.
        raise
    except Exception as exc:  # RecursionError (deep nesting), ValueError (an int over 4,300 digits), TypeError ...
        raise CodecError(f"undecodable: {type(exc).__name__}: {_clip(str(exc))}") from exc


def _decode(data: bytes | str) -> Event:
    # Fast path: current-version events straight from JSON in pydantic-core (2.6x faster than json.loads and
    # validate_python, measured; decoding was the largest own cost of the projector). Anything else, including
    # an older version that happens to validate, takes the upcasting path below.
    try:
        event = _ADAPTER.validate_json(data, strict=True)
    except ValidationError:
        pass
    else:
        if event.schema_version == CURRENT_VERSIONS[event.type]:
            return event
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CodecError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise CodecError("an event must be a JSON object")
    try:
        return _ADAPTER.validate_python(upcast(doc))
    except ValidationError as exc:
        raise CodecError(f"invalid event: {exc.errors(include_url=False)}") from exc


_MESSAGE_MAX = 500


def _clip(text: str) -> str:
    """An error message short enough for a dead-record header and a log line."""
    return text if len(text) <= _MESSAGE_MAX else text[:_MESSAGE_MAX] + "..."


def encode_event(event: Envelope) -> bytes:
    return event.model_dump_json().encode()


class EventCodec:
    """Object form of the codec, for code that takes a codec as a dependency."""

    decode = staticmethod(decode_event)
    encode = staticmethod(encode_event)
