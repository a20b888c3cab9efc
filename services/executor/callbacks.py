"""Pure: what a due callback sends, and the event its answer becomes. The timer decides when and whether again.

The headers are built here and nowhere else, and signed (Standard Webhooks, docs/api.md) over
``callback_request``'s exact body, with the stable ``callback_id`` as ``webhook-id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chronohook.ids import deterministic_event_id
from chronohook.outbound.sender import SendResult
from chronohook.outbound.signing import SigningKeys, signed
from schemas.events import CallbackDue, CallbackFailed, CallbackSucceeded, HttpRequestSpec
from services.executor.runs import USER_AGENT


def callback_request(due: CallbackDue, timeout_seconds: float) -> HttpRequestSpec:
    return HttpRequestSpec(method="POST", url=due.url, body=due.body, timeout_seconds=timeout_seconds)


def callback_headers(due: CallbackDue) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Chronohook-Callback-Id": due.callback_id,
    }


def signed_callback_headers(due: CallbackDue, keys: SigningKeys, now: datetime) -> dict[str, str]:
    """``callback_headers`` signed for an attempt sent at ``now``: ``webhook-id`` is the callback id (every attempt
    of one callback shares it), the signature covers the exact body every attempt sends."""
    return signed(callback_headers(due), keys, due.callback_id, due.body, now)


def callback_result_event(
    due: CallbackDue, result: SendResult, started_at: datetime
) -> CallbackSucceeded | CallbackFailed:
    """Success is a 2xx answer; anything else (or no answer) is a failure the timer may retry."""
    base = dict(
        job_id=due.job_id,
        tenant=due.tenant,
        occurred_at=started_at + timedelta(milliseconds=result.duration_ms),
        callback_id=due.callback_id,
        attempt=due.attempt,
        started_at=started_at,
        duration_ms=round(result.duration_ms, 3),
    )
    if result.failure_reason is None and result.status is not None:
        return CallbackSucceeded(
            event_id=deterministic_event_id("callback-succeeded", due.callback_id, due.attempt),
            response_status=result.status,
            **base,
        )
    return CallbackFailed(
        event_id=deterministic_event_id("callback-failed", due.callback_id, due.attempt),
        response_status=result.status,
        failure_reason=result.failure_reason or "unknown",
        error_message=_recordable_text(result.error_message),
        **base,
    )


ERROR_MESSAGE_LIMIT = 1_000


def _recordable_text(text: str | None) -> str | None:
    """An error message the event can always carry: valid Unicode (a lone surrogate becomes "?"), and short."""
    if text is None:
        return None
    return text.encode("utf-8", "replace").decode()[:ERROR_MESSAGE_LIMIT]
