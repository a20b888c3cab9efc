"""Completion callbacks: the documented body, and the dispatcher that drains the outbox with retries.

The body (see docs/callbacks.md) is JSON::

    {"type": "job.completed", "job_id": 847, "queue_id": 12, "queue": "emails", "status": "completed",
     "success": true, "attempt_number": 1, "scheduled_at": "...",
     "run": {"run_id": "...", "status_code": 200, "duration_ms": 12.3, "started_at": "...",
             "executed_at": "...", "failure_reason": null, "error_message": null, "response_body": "..."}}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chronohook.clock import Clock, iso8601_offset
from chronohook.outbound.sender import HttpSender
from schemas.events import HttpRequestSpec

if TYPE_CHECKING:
    from chronohook.readmodel.store import ReadModelStore
    from chronohook.readmodel.views import JobView, RunView

log = logging.getLogger("chronohook.callbacks")

# Seconds before each further try of a callback that did not get a 2xx.
CALLBACK_RETRY_DELAYS = (5, 30, 120, 600, 1800)


def callback_body(view: JobView, run: RunView) -> dict[str, Any]:
    public_id: int | str = view.integer_id if view.integer_id is not None else view.job_id
    return {
        "type": "job.completed",
        "job_id": public_id,
        "name": view.name,
        "queue_id": view.queue_id,
        "queue": view.queue,
        "status": "completed" if run.success else "failed",
        "success": run.success,
        "attempt_number": max(run.attempt, view.attempt_number),
        "scheduled_at": iso8601_offset(run.due_at),
        "run": {
            "run_id": run.run_id,
            "status_code": run.response_status,
            "duration_ms": run.duration_ms,
            "started_at": iso8601_offset(run.started_at),
            "executed_at": iso8601_offset(run.executed_at),
            "failure_reason": run.failure_reason,
            "error_message": run.error_message,
            "response_body": run.response_body,
        },
    }


class CallbackDispatcher:
    """Sends due outbox rows; wakes when the projector enqueued new ones, and every second for retries."""

    def __init__(self, store: ReadModelStore, sender: HttpSender, clock: Clock, timeout_seconds: float = 30.0):
        self.store = store
        self.sender = sender
        self.clock = clock
        self.timeout = timeout_seconds
        self.wake = asyncio.Event()

    def notify_threadsafe(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(self.wake.set)

    async def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            rows = await asyncio.to_thread(self.store.due_callbacks, self.clock.now())
            if rows:
                await asyncio.gather(*(self.deliver(row) for row in rows))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            self.wake.clear()

    async def deliver(self, row: dict[str, Any]) -> None:
        request = HttpRequestSpec(method="POST", url=row["url"], body=row["body"], timeout_seconds=self.timeout)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "chronohook/0.1",
            "X-Chronohook-Callback-Id": row["callback_id"],
        }
        result = await self.sender.send(request, headers)
        attempts = int(row["attempts"]) + 1
        now: datetime = self.clock.now()
        values: dict[str, Any] = dict(
            attempts=attempts,
            last_status=result.status,
            last_error=result.error_message,
            duration_ms=result.duration_ms,
        )
        if result.failure_reason is None:
            values.update(done=True, sent_at=now)
        elif attempts > len(CALLBACK_RETRY_DELAYS):
            values.update(done=True)
            log.warning(
                "callback %s abandoned after %d attempts: %s",
                row["callback_id"],
                attempts,
                result.error_message,
            )
        else:
            values.update(next_attempt_at=now + timedelta(seconds=CALLBACK_RETRY_DELAYS[attempts - 1]))
        await asyncio.to_thread(self.store.callback_attempted, row["callback_id"], values)
