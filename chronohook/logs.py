"""Every process's logging, set up once at its start from the settings (decision 0043).

``CHRONOHOOK_LOG_FORMAT=text`` (the default) writes ``time LEVEL logger: message`` lines; ``json`` writes one JSON
object per line (``ts``, ``level``, ``logger``, ``msg``, ``service``, ``pid``, the record's extra fields, ``exc`` for
a traceback), so a log pipeline parses every line a process writes: its own, uvicorn's (error and access),
librdkafka's (through confluent-kafka's ``logger`` setting, chronohook/kafka/config.py), Python's warnings and an
uncaught exception's traceback, which all go through the one handler set here.

Whatever the format, every line goes through ``Redact`` first: the value after a credential's name
(``Authorization``, ``Proxy-Authorization``, ``Cookie``, ``X-Api-Key``, ``token``, ``secret``, ``password``, ...)
is replaced by ``***``, in the message and in the extra fields.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Literal, TextIO

LogFormat = Literal["json", "text"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK: Final = "***"

# A credential's name, then `:` or `=` (quoted or not, as in a header, a query string, a dict's repr or JSON), then
# its value: a header's value runs to the end of its line or quote (`Bearer abc`, several cookies), a parameter's
# to the next separator.
_HEADER_NAMES = r"authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-auth-token"
_PARAM_NAMES = r"[a-z_-]*(?:token|secret|password|passwd|api[_-]?key)[a-z_-]*"
_SECRET_IN_TEXT: Final = re.compile(
    rf"""(?ix)
    (?P<name>\b(?:{_HEADER_NAMES})\b)(?P<sep>["']?\s*[:=]\s*["']?)(?P<header>[^"'\r\n]+)
    | (?P<pname>\b{_PARAM_NAMES})(?P<psep>["']?\s*[:=]\s*["']?)(?P<param>[^\s"',;&)}}\]]+)
    """
)
_SECRET_KEY: Final = re.compile(rf"(?i)^(?:{_HEADER_NAMES}|{_PARAM_NAMES})$")
# A LogRecord's own attributes: anything else on a record is an extra field (``log.info(..., extra={...})``).
# (uvicorn's ``color_message``: its message again, with terminal colours.)
_RECORD_ATTRS: Final = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
    "_extra",
}


# Every credential name above holds one of these: text without any (most lines) skips the full pattern, ~10x dearer.
_MAYBE_SECRET: Final = re.compile(r"auth|cookie|key|token|secret|passw")


def redact_text(text: str) -> str:
    """``text`` with every credential's value after its name masked."""
    if _MAYBE_SECRET.search(text.lower()) is None:
        return text
    return _SECRET_IN_TEXT.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    if match.group("name") is not None:
        return f"{match.group('name')}{match.group('sep')}{MASK}"
    return f"{match.group('pname')}{match.group('psep')}{MASK}"


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return _SECRET_KEY.match(key) is not None


def redact_value(key: str, value: Any) -> Any:
    """An extra field's value as it may be logged: masked under a credential's name, searched if text."""
    if _secret_key(key):
        return MASK
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    return value


class Redact(logging.Filter):
    """Masks credentials in a record's message and extra fields, before any formatter sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        record.msg, record.args = redact_text(record.getMessage()), None
        extra = [key for key in fields if key not in _RECORD_ATTRS]
        for key in extra:
            value = fields[key]
            cleaned = redact_value(key, value)
            if cleaned is not value:
                fields[key] = cleaned
        fields["_extra"] = extra  # found once, for the formatter
        return True


def _extra_keys(record: logging.LogRecord) -> list[str]:
    found: list[str] | None = record.__dict__.get("_extra")
    if found is not None:
        return found
    return [key for key in record.__dict__ if key not in _RECORD_ATTRS]


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.pid = os.getpid()  # once: `setup` runs in each process (logging's own lookup is off, see there)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _instant(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "service": self.service,
            "pid": self.pid,
        }
        for key in _extra_keys(record):
            line.setdefault(key, record.__dict__[key])
        if record.exc_info:
            line["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, default=str, ensure_ascii=False)


def _instant(created: float) -> str:
    seconds = int(created)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{int((created - seconds) * 1000):03d}Z"


class _TextFormatter(logging.Formatter):
    def formatException(self, ei: Any) -> str:
        return redact_text(super().formatException(ei))


_json = False


def json_enabled() -> bool:
    """Whether this process writes JSON lines (``setup`` with ``log_format="json"``)."""
    return _json


def setup(service: str, log_format: LogFormat = "text", level: LogLevel = "INFO", stream: TextIO | None = None) -> None:
    """Route every log record of this process through one redacting handler on stderr, in ``log_format``.

    Called once per process at its start (``chronohook serve``, ``chronohook dev``); calling it again replaces the
    handler (tests). Uvicorn is given ``log_config=None`` so its loggers propagate here (services/ingest/app.py).
    """
    global _json
    _json = log_format == "json"
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Redact())
    handler.setFormatter(JsonFormatter(service) if _json else _TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Fields no line of ours shows, each looked up for every record (the thread's name, the multiprocessing name,
    # the pid: JsonFormatter keeps its own).
    logging.logThreads = logging.logMultiprocessing = logging.logProcesses = False
    # Uvicorn's own logging set-up (a server configured before this call) leaves its loggers with handlers of their
    # own, no propagation and levels of their own: all of them give way to the one handler and level here.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("chronohook").critical("uncaught %s: %s", kind.__name__, value, exc_info=(kind, value, tb))


def _log_thread_uncaught(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or issubclass(args.exc_type, SystemExit):
        return
    logging.getLogger("chronohook").critical(
        "uncaught %s in thread %s: %s",
        args.exc_type.__name__,
        args.thread.name if args.thread is not None else "?",
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
