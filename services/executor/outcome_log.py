"""One log line per delivery outcome and per refusal (decision 0043), cheap enough for thousands a second.

A delivery's line (a job's, a callback's or an alert's; logger ``chronohook.executor.deliveries``, at
``CHRONOHOOK_DELIVERY_LOG_LEVEL``, INFO by default) names the job, its run, tenant and queue, the attempt, the answer's
status or the failure's class, the duration and the lateness (started minus due), and the delay the tenant's delivery
budget imposed, if any. A request the egress guard or the header policy refused before it left is also a ``refused``
line (logger ``chronohook.refusals``, INFO) with the reason. Neither carries the URL, a header or a body: they may hold
credentials.
"""

from __future__ import annotations

import logging
from datetime import datetime

from chronohook.outbound.sender import SendResult
from chronohook.settings import Settings
from schemas.events import AlertDue, CallbackDue, JobDue

log = logging.getLogger("chronohook.executor.deliveries")
_KINDS: dict[type, str] = {JobDue: "job", CallbackDue: "callback", AlertDue: "alert"}
refusals = logging.getLogger("chronohook.refusals")


def delivered(
    settings: Settings, due: JobDue | CallbackDue | AlertDue, result: SendResult, started_at: datetime
) -> None:
    """Log ``due``'s outcome, and its refusal if the request never left."""
    level = logging.DEBUG if settings.delivery_log_level == "DEBUG" else logging.INFO
    refused = result.status is None and "refused" in (result.error_message or "")
    if refused:
        refusals.info(
            "refused %s %s: %s", due.type, due.job_id, result.error_message,
            extra={"refusal": "egress", "job_id": due.job_id, "tenant": due.tenant, "reason": result.error_message},
        )  # fmt: skip
    if not log.isEnabledFor(level):
        return
    outcome = str(result.status) if result.failure_reason is None else result.failure_reason
    lateness_ms = round((started_at - due.due_at).total_seconds() * 1000, 1)
    duration_ms = round(result.duration_ms, 1)
    fields = {
        "kind": _KINDS[type(due)],
        "job_id": due.job_id,
        "tenant": due.tenant,
        "attempt": due.attempt,
        "status_code": result.status,
        "error": result.failure_reason,
        "duration_ms": duration_ms,
        "lateness_ms": lateness_ms,
    }
    if isinstance(due, JobDue):
        fields.update(run_id=due.run_id, queue=due.queue, budget_delay_ms=due.delayed_by_ms)
    elif isinstance(due, AlertDue):
        fields.update(alert_id=due.alert_id)
    log.log(
        level, "%s %s attempt %d: %s in %.1f ms, %.1f ms late", fields["kind"], due.job_id, due.attempt, outcome,
        duration_ms, lateness_ms, extra=fields,
    )  # fmt: skip
