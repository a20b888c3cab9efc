"""Pure translations of recorded runs into each API's answer."""

from __future__ import annotations

from datetime import datetime

from chronohook.clock import iso8601_offset, rfc3339
from chronohook.readmodel.views import RunView
from chronohook.sealing import masked_headers
from services.ingest.models import QuedupRun, RecuroRunResponse


def recuro_run(run: RunView) -> RecuroRunResponse:
    return RecuroRunResponse(
        job_id=_integer(run.job_id) if run.job_id.startswith(RECURO_JOB_PREFIX) else None,
        run_id=run.run_id,
        attempt_number=run.attempt,
        status="success" if run.success else "failed",
        response_status=run.response_status,
        response_body=run.response_body,
        response_headers=run.response_headers,
        response_truncated=run.response_truncated,
        request_headers=masked_headers(run.request_headers),
        request_body=run.request_body,
        due_at=iso8601_offset(run.due_at),
        started_at=iso8601_offset(run.started_at),
        executed_at=iso8601_offset(run.executed_at),
        duration_ms=run.duration_ms,
        error_message=run.error_message,
        failure_reason=run.failure_reason,
        delayed_by_ms=run.delayed_by_ms,
    )


def quedup_run(run: RunView) -> QuedupRun:
    return QuedupRun(
        id=run.run_id,
        job_id=run.job_id,
        attempt=run.attempt,
        status="success" if run.success else "failed",
        due_at=_rfc3339(run.due_at),
        started_at=_rfc3339(run.started_at),
        executed_at=_rfc3339(run.executed_at),
        duration_ms=run.duration_ms,
        response_status=run.response_status,
        response_headers=run.response_headers,
        response_body=run.response_body,
        response_truncated=run.response_truncated,
        request_headers=masked_headers(run.request_headers),
        request_body=run.request_body,
        error_message=run.error_message,
        failure_reason=run.failure_reason,
        delayed_by_ms=run.delayed_by_ms,
    )


def _rfc3339(when: datetime) -> str:
    return rfc3339(when) or ""


RECURO_JOB_PREFIX = "rj_"


def _integer(key: str) -> int:
    return int(key.rsplit("_", 1)[-1])
