"""Pure: what an alert's POST sends (the JSON or the Slack-compatible body, headers) and the event its answer
becomes. The timer decides when and whether again; the tenant's destination is looked up at send time (decision
0020), so a destination set after the alert was raised still receives it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from chronohook.clock import iso8601_offset
from chronohook.ids import deterministic_event_id
from chronohook.outbound.sender import SendResult
from schemas.events import Alert, AlertDelivered, AlertDeliveryFailed, AlertDue, HttpRequestSpec
from services.executor.runs import USER_AGENT

AlertFormat = Literal["json", "slack"]
ALERT_ID_HEADER = "X-Chronohook-Alert-Id"
NO_DESTINATION = "no alert destination is set (PUT /api/alert-destination)"
ERROR_MESSAGE_LIMIT = 1_000


class Destination(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def format(self) -> AlertFormat: ...


class DestinationSource(Protocol):
    """Where the executor finds a tenant's alert destination (chronohook/readmodel/alerts.py in production)."""

    async def destination(self, tenant: str) -> Destination | None: ...


class NoDestinations:
    """A process composed without a database: no tenant has a destination, so every alert is abandoned at once."""

    async def destination(self, tenant: str) -> Destination | None:  # noqa: ARG002
        return None


def alert_document(alert_id: str, alert: Alert) -> dict[str, Any]:
    """The JSON body (docs/api.md "Alerts"), version 1: the same on every attempt of one alert."""
    return {
        "type": f"alert.{alert.kind}",
        "version": 1,
        "alert_id": alert_id,
        "kind": alert.kind,
        "cron_id": alert.cron_id,
        "job_id": alert.job_id,
        "name": alert.name,
        "queue": alert.queue,
        "queue_id": alert.queue_id,
        "consecutive_failures": alert.consecutive_failures,
        "alert_threshold": alert.alert_threshold,
        "raised_at": iso8601_offset(alert.raised_at),
        "run": {
            "run_id": alert.run_id,
            "status_code": alert.response_status,
            "failure_reason": alert.failure_reason,
            "error_message": alert.error_message,
        },
    }


def alert_text(alert: Alert) -> str:
    """One line a person reads in a chat channel: a cron's, or a queue's (``alerts_enabled``)."""
    cron = alert.cron_id is not None
    what = f'cron "{alert.name}" (id {alert.cron_id})' if cron else f'queue "{alert.queue}"'
    if alert.kind == "recovery":
        return f":white_check_mark: Recovered: {what} succeeded again."
    why: str = alert.failure_reason or "failed"
    if alert.response_status is not None:
        why = f"{why}, HTTP {alert.response_status}"
    icon = ":rotating_light:" if alert.kind == "failure" else ":warning:"
    label = "Failing" if alert.kind == "failure" else "Warning"
    if not cron:
        # A queue counts its jobs' final outcomes: a job whose retries (if any) ran out.
        return f"{icon} {label}: a job of {what} failed for good (job {alert.job_id}; last: {why})."
    return (
        f"{icon} {label}: {what} failed {alert.consecutive_failures} time(s) in a row "
        f"(threshold {alert.alert_threshold}; last: {why})."
    )


def alert_body(due: AlertDue, fmt: AlertFormat) -> str:
    """The exact text POSTed: Recuro-style JSON, or Slack's incoming-webhook shape ``{"text": ...}``."""
    if fmt == "slack":
        return json.dumps({"text": alert_text(due.alert)})
    return json.dumps(alert_document(due.alert_id, due.alert))


def alert_request(due: AlertDue, destination: Destination, timeout_seconds: float) -> HttpRequestSpec:
    return HttpRequestSpec(
        method="POST", url=destination.url, body=alert_body(due, destination.format), timeout_seconds=timeout_seconds
    )


def alert_headers(due: AlertDue) -> dict[str, str]:
    """Unsigned headers; the executor signs them like every outbound request (chronohook/outbound/signing.py) with
    the alert id as the ``webhook-id``, the same on every attempt."""
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, ALERT_ID_HEADER: due.alert_id}


def alert_result_event(
    due: AlertDue, result: SendResult, started_at: datetime, fmt: AlertFormat
) -> AlertDelivered | AlertDeliveryFailed:
    """Success is a 2xx answer; anything else (or no answer) is a failure the timer may retry."""
    base = dict(
        job_id=due.job_id,
        tenant=due.tenant,
        occurred_at=started_at + timedelta(milliseconds=result.duration_ms),
        alert_id=due.alert_id,
        attempt=due.attempt,
        started_at=started_at,
        duration_ms=round(result.duration_ms, 3),
    )
    if result.failure_reason is None and result.status is not None:
        return AlertDelivered(
            event_id=deterministic_event_id("alert-delivered", due.alert_id, due.attempt),
            response_status=result.status,
            format=fmt,
            **base,
        )
    return AlertDeliveryFailed(
        event_id=deterministic_event_id("alert-failed", due.alert_id, due.attempt),
        response_status=result.status,
        failure_reason=result.failure_reason or "unknown",
        error_message=_recordable_text(result.error_message),
        **base,
    )


def no_destination_event(due: AlertDue, now: datetime) -> AlertDeliveryFailed:
    """The tenant has no destination: nothing is sent, and the timer gives the alert up (it stays listed)."""
    return AlertDeliveryFailed(
        event_id=deterministic_event_id("alert-failed", due.alert_id, due.attempt),
        job_id=due.job_id,
        tenant=due.tenant,
        occurred_at=now,
        alert_id=due.alert_id,
        attempt=due.attempt,
        started_at=now,
        duration_ms=0.0,
        failure_reason="invalid_url",
        error_message=NO_DESTINATION,
        no_destination=True,
    )


def _recordable_text(text: str | None) -> str | None:
    if text is None:
        return None
    return text.encode("utf-8", "replace").decode()[:ERROR_MESSAGE_LIMIT]
