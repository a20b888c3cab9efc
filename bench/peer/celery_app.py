"""The Celery side of the peer bench: one app on a Redis broker and one task that POSTs a webhook.

The worker is started as ``celery -A bench.peer.celery_app worker``, which imports this module by name and
takes its ``app``; so the broker URL is read here from ``CHRONOHOOK_PEER_BROKER_URL`` (the bench sets it
for the worker it starts). The bench itself builds its own app with ``make_app(url)``, with the same
settings.

Settings are the ones a user of ``eta`` tasks on Redis would have, mostly Celery's defaults:

* ``worker_prefetch_multiplier=4`` (the default). It bounds only tasks without an ETA: for each ETA task
  it receives the worker raises its prefetch count by one (``worker_eta_task_limit`` is unset, also the
  default), so a backlog of ETA tasks is held in the worker's memory until due, whatever this is;
* ``visibility_timeout=3600`` s (the Redis transport's default): an unacknowledged task is handed out
  again after that, so it must exceed the longest ETA lead (here seconds, not hours);
* results ignored (no result backend), JSON serialisation, UTC; no ``acks_late``, no retries.

The task uses urllib3 (installed with requests): one ``PoolManager`` per worker process, made on first use
(so after the prefork fork), keeping connections alive; thread-safe for the ``threads`` pool.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import urllib3
from celery import Celery  # type: ignore[import-untyped]  # no stubs or py.typed

BROKER_ENV = "CHRONOHOOK_PEER_BROKER_URL"
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
TASK_NAME = "bench.peer.deliver"
PREFETCH_MULTIPLIER = 4
VISIBILITY_TIMEOUT_S = 3600
POOL_CONNECTIONS = 64  # per host; more than any thread count the bench uses

# The same kind of small delivery the executor sends: a few hundred bytes of JSON, serialised once.
BODY = json.dumps(
    {
        "job_id": "01JD7Q5R3S9X2M4N6P8T0V1W3Y",
        "tenant": "bench",
        "attempt": 1,
        "scheduled_for": "2026-11-23T12:00:00Z",
        "payload": {"event": "invoice.due", "invoice_id": 4242, "amount_cents": 129_900, "currency": "EUR"},
    },
    separators=(",", ":"),
).encode()
HEADERS = {"Content-Type": "application/json"}
TIMEOUT = urllib3.Timeout(connect=5.0, read=10.0)

_http: tuple[int, urllib3.PoolManager] | None = None
_http_lock = threading.Lock()


def _pool() -> urllib3.PoolManager:
    """This process's keep-alive pool; a fresh one in a forked child (sockets are not shared across forks)."""
    global _http
    current = _http
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _http_lock:
        if _http is None or _http[0] != os.getpid():
            _http = (os.getpid(), urllib3.PoolManager(maxsize=POOL_CONNECTIONS, block=False, retries=False))
        return _http[1]


def deliver(url: str) -> int:
    """POST the small JSON body to ``url``, like a webhook; a non-2xx answer fails the task."""
    response = _pool().request("POST", url, body=BODY, headers=HEADERS, timeout=TIMEOUT)
    if not 200 <= response.status < 300:
        raise RuntimeError(f"POST {url} answered {response.status}")
    return response.status


def make_app(broker_url: str) -> Any:
    """A Celery app on ``broker_url`` with the ``deliver`` task registered (``app.tasks[TASK_NAME]``)."""
    app = Celery("chronohook_peer", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        worker_prefetch_multiplier=PREFETCH_MULTIPLIER,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_S},
        broker_connection_retry_on_startup=True,
    )
    app.task(name=TASK_NAME, ignore_result=True)(deliver)
    return app


app = make_app(os.environ.get(BROKER_ENV, DEFAULT_BROKER))
