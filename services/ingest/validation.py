"""Field rules shared by the request models, and pydantic errors worded as Laravel words them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from chronohook.outbound.egress import EgressPolicy, check_url
from chronohook.outbound.errors import EgressRefused, HeaderRefused
from chronohook.outbound.headers import check_headers
from chronohook.schedule import Schedule, ScheduleError, UnknownTimeZone, normalise_expression, zone

URL_MAX = 2048
NAME_MAX = 255
BODY_MESSAGE = "The request body must be a JSON object."
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
QUEDUP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class RuleError(ValueError):
    """A value broke a rule; the message is the Laravel wording after ``The {field} field ``."""


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# RFC 9110 token characters for header names.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Control characters: all of C0 (tab too), DEL and C1. None belongs in a name, a queue, a URL, a cron expression or
# a header (CR/LF in a header would inject one), and NUL cannot be stored by PostgreSQL's text or jsonb at all.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A JSON string may spell half a UTF-16 surrogate pair ("\\ud800"): Python keeps it, UTF-8 cannot encode it, so the
# job log (and the target) could never carry it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
MAX_PAYLOAD_DEPTH = 100


def plain_text(value: str) -> str:
    """Text for names, queues, URLs and cron expressions: UTF-8 encodable and free of control characters."""
    utf8_text(value)
    if _CONTROL.search(value):
        raise RuleError("must not contain control characters.")
    return value


def valid_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise RuleError("must be a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise RuleError("must be a valid URL.")
    return value


def http_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _TOKEN.match(name):
            raise RuleError(f"has an invalid header name {name!r}.")
        if _CONTROL.search(text):
            raise RuleError(f"has an invalid value for header {name!r} (control characters are not allowed).")
        if _SURROGATE.search(text):
            raise RuleError(f"has an invalid value for header {name!r} (it must be valid UTF-8).")
    try:
        check_headers(value)
    except HeaderRefused as exc:
        raise RuleError(f"is refused: {exc}.") from exc
    return value


# -- what PHP and Laravel clients send (issue 15: a client that changes only the base URL) -------------------------
# PHP's FILTER_VALIDATE_INT, which Laravel's ``integer`` rule uses: optional spaces around, an optional sign, and no
# leading zero. ASCII digits only.
_PHP_INTEGER = re.compile(r"[ \t\n\r\v]*[+-]?(0|[1-9][0-9]*)[ \t\n\r\v]*")
_EXACT_FLOAT = 2.0**53
_DIGITS_MAX = 1000  # well under Python's 4,300-digit int() limit; any bound refuses such a number anyway


def empty_array_as_object(value: object) -> object:
    """``[]`` as ``{}``: PHP's ``json_encode([])`` writes an empty array (a PHP array is both), and Laravel's ``array``
    rule takes it for an empty object. A non-empty list stays a list (and is refused as one)."""
    return {} if isinstance(value, list) and not value else value


def laravel_integer(value: object) -> object:
    """What Laravel's ``integer`` rule takes besides a JSON integer: a string holding one (``"300"``, ``" +5 "``; no
    leading zero, no fraction) and a number without a fraction (``300.0``). Booleans stay refused."""
    if isinstance(value, str) and len(value) <= _DIGITS_MAX and _PHP_INTEGER.fullmatch(value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT:
        return int(value)
    return value


def laravel_boolean(value: object) -> object:
    """What Laravel's ``boolean`` rule takes besides true and false: ``1``, ``0``, ``"1"`` and ``"0"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and value in (0, 1, "0", "1"):
        return value in (1, "1")
    return value


def scalar_header_values(value: object) -> object:
    """Recuro's headers: ``[]`` is none, and a number or boolean value is sent as JSON writes it (``3``, ``2.5``,
    ``true``, ``false``). Null, lists, objects, NaN and Infinity stay refused ("must be a string")."""
    value = empty_array_as_object(value)
    if not isinstance(value, dict):
        return value
    return {name: _header_text(text) for name, text in value.items()}


def _header_text(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return json.dumps(value)
    return value


def utf8_text(value: str) -> str:
    """Text that UTF-8 can encode (no lone surrogates)."""
    if _SURROGATE.search(value):
        raise RuleError("must be a valid UTF-8 string.")
    return value


NUL_MESSAGE = "must not contain NUL characters (\\u0000): the job store cannot keep them."


def body_text(value: str) -> str:
    """A request body: any UTF-8 text but NUL, which PostgreSQL's text and jsonb cannot hold."""
    utf8_text(value)
    if "\x00" in value:
        raise RuleError(NUL_MESSAGE)
    return value


def json_payload(value: dict[str, Any]) -> dict[str, Any]:
    """JSON the job log can carry and a target can parse: finite numbers, UTF-8 text, at most 100 levels deep.

    Python's parser takes ``NaN``, ``Infinity`` and ``1e400`` (which is infinite); none of them is JSON.
    """
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            raise RuleError(f"must not be nested more than {MAX_PAYLOAD_DEPTH} levels deep.")
        if isinstance(item, dict):
            for key, nested in item.items():
                body_text(key)
                pending.append((nested, depth + 1))
        elif isinstance(item, list):
            pending.extend((nested, depth + 1) for nested in item)
        elif isinstance(item, str):
            body_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise RuleError("must not contain NaN or Infinity (they are not JSON).")
    return value


def assertion_value(kind: str, value: str) -> None:
    if kind == "status_code_equals" and not (value.strip().isdigit() and 100 <= int(value) <= 599):
        raise RuleError("must be an HTTP status code (100-599) for status_code_equals.")
    if kind == "response_time_under_ms":
        try:
            ok = float(value) > 0
        except ValueError:
            ok = False
        if not ok:
            raise RuleError("must be a positive number of milliseconds for response_time_under_ms.")


def http_method(value: str, allowed: Sequence[str] = METHODS) -> str:
    upper = value.upper()
    if upper not in allowed:
        raise RuleError(f"is invalid. It must be one of {', '.join(allowed)}.")
    return upper


def cron_expression(value: str) -> str:
    """5 fields, or 6 with seconds first; one that never fires (``0 0 31 2 *``) is refused too."""
    try:
        return Schedule.parse(normalise_expression(value)).expression
    except ScheduleError as exc:
        raise RuleError(f"must be a valid cron expression: {exc}.") from exc


def time_zone(value: str) -> str:
    """An IANA time zone name the tz database knows, e.g. ``America/New_York`` (chronohook extension)."""
    try:
        zone(value)
    except UnknownTimeZone as exc:
        raise RuleError("must be a valid IANA time zone, e.g. America/New_York.") from exc
    return value


def rfc3339(value: str) -> datetime:
    """RFC 3339 only: a date, ``T``, a time and an explicit offset (``Z`` or ``+hh:mm``)."""
    text = value.strip()
    if not _RFC3339.match(text):
        raise RuleError("must be an RFC 3339 date-time, e.g. 2025-09-24T17:00:00Z.")
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
        # In UTC, 9999-12-31T23:59:59-01:00 and 0001-01-01T00:00:00+01:00 fall outside the years datetime holds.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise RuleError("must be an RFC 3339 date-time, e.g. 2025-09-24T17:00:00Z.") from exc


@lru_cache(maxsize=8)
def egress_policy(allow: str) -> EgressPolicy:
    """The egress policy for ``settings.egress_allow``, parsed once per distinct setting."""
    return EgressPolicy.from_setting(allow)


def egress_errors(policy: EgressPolicy, urls: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Laravel-worded errors for each URL (by field) whose host is a literal address the egress policy refuses.

    Only literals are judged here (no name is resolved at create); a name that resolves to a refused address fails
    its run, at connect time.
    """
    errors: dict[str, list[str]] = {}
    for field, url in urls.items():
        if url is None:
            continue
        try:
            check_url(url, policy)
        except EgressRefused as exc:
            why = str(exc)
            errors[field] = [
                f"The {field} field is {why}." if why.startswith("refused") else f"The {field} field is refused: {why}."
            ]
    return errors


_SOURCES = ("body", "query", "path", "header", "cookie")


def _field(loc: Sequence[int | str]) -> str:
    """``jobs.3.delay`` for ``("body", "jobs", 3, "delay")``, ``limit`` for ``("query", "limit")``; "" for the body."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    return ".".join(parts)


def _bounds_message(the: str, kind: str, ctx: dict[str, Any], known: tuple[int, int] | None) -> str:
    if known is not None:
        return f"{the} must be between {known[0]} and {known[1]}."
    if kind == "greater_than_equal":
        return f"{the} must be at least {ctx.get('ge')}."
    return f"{the} must not be greater than {ctx.get('le')}."


def _message(err: dict[str, Any], bounds: dict[str, tuple[int, int]]) -> tuple[str, str]:
    field = _field(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if not field or kind == "json_invalid":
        return "body", BODY_MESSAGE
    the = f"The {field} field"
    if kind == "missing":
        return field, f"{the} is required."
    if kind == "string_type":
        return field, f"{the} must be a string."
    if kind == "string_unicode":
        return field, f"{the} must be a valid UTF-8 string."
    if kind == "string_too_long":
        return field, f"{the} must not be greater than {ctx.get('max_length')} characters."
    if kind == "string_too_short":
        return field, f"{the} is required."
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return field, f"{the} must be an integer."
    if kind == "int_parsing_size":  # more digits than any bound (or Python's 4,300-digit limit) allows
        return field, f"{the} is out of range."
    if kind in ("bool_type", "bool_parsing"):
        return field, f"{the} must be true or false."
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return field, f"{the} must be an object."
    if kind in ("list_type", "tuple_type"):
        return field, f"{the} must be an array."
    if kind == "too_long":
        return field, f"{the} must not have more than {ctx.get('max_length')} items."
    if kind == "too_short":
        return field, f"{the} must have at least {ctx.get('min_length')} items."
    if kind in ("greater_than_equal", "less_than_equal"):
        # Bounds are per field name, also inside a batch ("jobs.3.delay").
        return field, _bounds_message(the, kind, ctx, bounds.get(field.rsplit(".", 1)[-1]))
    if kind == "literal_error":
        return field, f"The selected {field} is invalid."
    if kind == "value_error":
        cause = ctx.get("error")
        if isinstance(cause, RuleError):
            text = str(cause)
            if text.startswith("is invalid"):
                return field, f"The selected {field} {text}"
            return field, f"{the} {text}"
        return field, f"{the} is invalid: {err.get('msg')}."
    if kind == "extra_forbidden":
        return field, f"{the} is not allowed."
    return field, f"{the} is invalid."


def laravel_errors(errors: Sequence[Any], bounds: dict[str, tuple[int, int]] | None = None) -> dict[str, list[str]]:
    """Group pydantic errors by field, each worded like Laravel's validator, in the order the fields appear."""
    grouped: dict[str, list[str]] = {}
    for err in errors:
        field, message = _message(dict(err), BOUNDS if bounds is None else bounds)
        if message not in grouped.setdefault(field, []):
            grouped[field].append(message)
    return grouped


BOUNDS: dict[str, tuple[int, int]] = {
    "delay": (0, 86_400),
    "timeout_seconds": (1, 300),
    "alert_threshold": (1, 3),
}
