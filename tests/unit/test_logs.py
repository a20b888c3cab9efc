"""chronohook/logs.py: every line JSON when asked, credentials masked in every format, the level a checked choice."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from chronohook import logs
from chronohook.settings import Settings


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Where the tests' logging writes; the root logger, the excepthooks and warnings capture put back afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = sys.excepthook, threading.excepthook
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks
    logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


SECRETS = [
    # (what a line said, what must not be in it)
    ("calling with Authorization: Bearer s3cr3t-token-value", "s3cr3t-token-value"),
    ("headers {'authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
    ('{"Proxy-Authorization": "Bearer pq-123"}', "pq-123"),
    ("Cookie: session=abc123; theme=dark", "abc123"),
    ("X-Api-Key: key-987", "key-987"),
    ("GET /hook?token=tok-555&x=1", "tok-555"),
    ("signing_secret=whsec_abcdef", "whsec_abcdef"),
    ("sasl.password=hunter2", "hunter2"),
    ("api_key: 'k-42'", "k-42"),
]


@pytest.mark.parametrize(("said", "secret"), SECRETS)
def test_redact_text_masks_the_value_after_a_credential_name(said: str, secret: str) -> None:
    # Given a line naming a credential and its value / When redacted / Then the value is gone, the name stays
    cleaned = logs.redact_text(said)
    assert secret not in cleaned
    assert logs.MASK in cleaned


def test_redact_text_leaves_ordinary_lines_alone() -> None:
    # Given lines without credentials / Then they are unchanged
    for said in ("delivered job 42 in 3.1 ms", "GET /api/jobs/{job_id} 200 1.2 ms", "tokens revoked: 3"):
        assert logs.redact_text(said) == said


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_every_format_masks_messages_arguments_and_extra_fields(captured: io.StringIO, log_format: Any) -> None:
    # Given logging set up in either format
    logs.setup("test", log_format, "INFO", stream=captured)
    # When a line carries secrets in its arguments and in its extra fields
    logging.getLogger("chronohook.x").info(
        "sending %s", {"Authorization": "Bearer tok-1"}, extra={"headers": {"X-Api-Key": "k-2"}, "token": "tok-3"}
    )
    # Then none of them is written
    out = captured.getvalue()
    for secret in ("tok-1", "k-2", "tok-3"):
        assert secret not in out


def test_json_lines_carry_the_fields_and_the_traceback(captured: io.StringIO) -> None:
    # Given JSON logging
    logs.setup("executor", "json", "INFO", stream=captured)
    # When a line with extra fields is logged, then one with a traceback naming a secret
    logging.getLogger("chronohook.executor").info("job %s done", "j1", extra={"job_id": "j1", "status_code": 200})
    try:
        raise RuntimeError("Authorization: Bearer leaked-in-exception")
    except RuntimeError:
        logging.getLogger("chronohook.executor").exception("failed")
    # Then each is one JSON object with the usual fields and its own
    first, second = lines(captured)
    assert first["msg"] == "job j1 done" and first["level"] == "INFO" and first["logger"] == "chronohook.executor"
    assert first["service"] == "executor" and first["job_id"] == "j1" and first["status_code"] == 200
    assert first["ts"].endswith("Z")
    # And the traceback is a field, masked
    assert "RuntimeError" in second["exc"] and "leaked-in-exception" not in second["exc"]


def test_json_covers_uvicorn_warnings_librdkafka_and_uncaught_exceptions(captured: io.StringIO) -> None:
    # Given JSON logging, and uvicorn's loggers as uvicorn's own config would leave them (handlers, no propagation)
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.StreamHandler(io.StringIO()))
    uvicorn_error.propagate = False
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # as uvicorn.Config(log_level="warning") leaves it
    logs.setup("ingest", "json", "INFO", stream=captured)
    # When uvicorn, Python's warnings, librdkafka's logger and an uncaught exception each write
    uvicorn_error.info("Started server process [1]")
    logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)
    logging.getLogger("chronohook.librdkafka").warning("FAIL [rdkafka#producer-1] broker down")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    # Then every line parses, one each
    parsed = lines(captured)
    assert [p["logger"] for p in parsed] == [
        "uvicorn.error",
        "uvicorn.access",
        "py.warnings",
        "chronohook.librdkafka",
        "chronohook",
    ]
    assert "ValueError: boom" in parsed[-1]["exc"] and parsed[-1]["level"] == "CRITICAL"


def test_text_format_is_the_classic_line(captured: io.StringIO) -> None:
    # Given text logging at WARNING
    logs.setup("timer", "text", "WARNING", stream=captured)
    # When an INFO and a WARNING line are logged
    logging.getLogger("chronohook.timer").info("hidden")
    logging.getLogger("chronohook.timer").warning("shown %d", 1)
    # Then only the warning is written, as `time LEVEL logger: message`
    (line,) = captured.getvalue().splitlines()
    assert line.endswith("WARNING chronohook.timer: shown 1")


def test_log_level_is_a_checked_choice_in_any_case() -> None:
    # Given the level in lower case / Then it is read; given another word / Then start-up refuses it
    assert Settings(log_level="debug").log_level == "DEBUG"
    with pytest.raises(ValidationError, match="INFO"):
        Settings(log_level="verbose")
    with pytest.raises(ValidationError):
        Settings(log_format="xml")


def test_librdkafka_logs_through_python_logging_only_in_json() -> None:
    # Given the Kafka client settings / Then librdkafka's lines go to the JSON logger only when asked
    from chronohook.kafka.config import connection_config

    assert "logger" not in connection_config(Settings())
    assert connection_config(Settings(log_format="json"))["logger"].name == "chronohook.librdkafka"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_bad_setting_stops_a_service_with_one_line_in_its_format(
    monkeypatch: pytest.MonkeyPatch, log_format: str
) -> None:
    from typer.testing import CliRunner

    from chronohook.cli import app

    # Given a level that is not one of the choices
    monkeypatch.setenv("CHRONOHOOK_LOG_FORMAT", log_format)
    monkeypatch.setenv("CHRONOHOOK_LOG_LEVEL", "verbose")
    # When a service starts
    result = CliRunner().invoke(app, ["serve", "timer"])
    # Then it stops with status 2 and one line naming the setting, JSON when JSON was asked
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert "CHRONOHOOK_LOG_LEVEL" in line and "'INFO'" in line
    if log_format == "json":
        assert json.loads(line)["level"] == "CRITICAL"
