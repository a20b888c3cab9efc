"""The executor's metrics (decision 0042). Counted per attempt on cached label children (a dict lookup and an add:
no label formatting per record); gauges read from the live service when scraped.

- ``chronohook_jobs_due_total{queue}``: due jobs (``JobDue``) this executor took from the log.
- ``chronohook_jobs_delivered_total{queue}``, ``chronohook_jobs_failed_total{queue}``: attempts sent, by outcome
  (failed: the target answered outside its assertions, did not answer, or the request was refused before leaving).
- ``chronohook_delivery_lateness_seconds``: an attempt's start minus its due instant.
- ``chronohook_refusals_total{reason}``: ``egress`` (the egress guard refused the target), ``header`` (a request
  header the sender owns), ``budget`` (the tenant's delivery budget delayed the attempt, decision 0028).
- ``chronohook_executor_in_flight``, ``..._parked``, ``..._slots_total``, ``..._host_slot_limit``,
  ``..._hosts_busy``, ``..._busiest_host_slots``: slots in use, per host without naming hosts (bounded labels).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram

from chronohook.kafka.groups import group_id
from chronohook.metrics import (
    LATENESS_BUCKETS,
    NAMESPACE,
    REFUSALS,
    ConsumerLag,
    DeadRecords,
    Gauges,
    QueueLabels,
    children,
    register_once,
)
from chronohook.outbound.sender import SendResult
from schemas.events import JobDue

DUE = Counter(f"{NAMESPACE}_jobs_due", "Due jobs an executor took from the log.", ["queue"])
DELIVERED = Counter(f"{NAMESPACE}_jobs_delivered", "Job attempts sent whose answer passed.", ["queue"])
FAILED = Counter(f"{NAMESPACE}_jobs_failed", "Job attempts that failed (answer, timeout, refusal).", ["queue"])
LATENESS = Histogram(
    f"{NAMESPACE}_delivery_lateness_seconds", "A job attempt's start minus its due instant.", buckets=LATENESS_BUCKETS
)
REFUSED_EGRESS, REFUSED_HEADER, REFUSED_BUDGET = (REFUSALS.labels(r) for r in ("egress", "header", "budget"))


class RunMetrics:
    """The per-attempt counters with their children made once for every queue label."""

    def __init__(self, queues: QueueLabels) -> None:
        self.queue = queues
        self.due = children(DUE, queues.values)
        self.delivered = children(DELIVERED, queues.values)
        self.failed = children(FAILED, queues.values)

    def took(self, due: object) -> None:
        if isinstance(due, JobDue):
            self.due[self.queue(due.queue)].inc()

    def ran(self, due: JobDue, result: SendResult, started_at: datetime) -> None:
        label = self.queue(due.queue)
        LATENESS.observe(max(0.0, (started_at - due.due_at).total_seconds()))
        if due.delayed_by_ms:
            REFUSED_BUDGET.inc()
        if result.failure_reason is None:
            self.delivered[label].inc()
            return
        self.failed[label].inc()
        message = result.error_message or ""
        if "egress policy" in message:
            REFUSED_EGRESS.inc()
        elif "header policy" in message:
            REFUSED_HEADER.inc()


def register(service: Any) -> None:
    """The executor's gauges, reading ``service`` (an ExecutorService) when scraped."""
    slots, backlog = service.slots, service.backlog

    def read() -> dict[str, tuple[str, float]]:
        hosts = list(slots.policy._on_host.values())
        return {
            "executor_in_flight": ("Attempts holding a slot (being sent).", slots.policy.running),
            "executor_parked": ("Attempts waiting for admission (a slot, a host's turn).", slots.waiting()),
            "executor_backlog_records": (
                "Due records taken and not finished (most waiting for their instant).",
                backlog.records,
            ),
            "executor_slots_total": ("Slots of this executor (CHRONOHOOK_EXECUTOR_CONCURRENCY).", slots.total),
            "executor_host_slot_limit": (
                "Slots one host may hold (CHRONOHOOK_HOST_CONCURRENCY).",
                slots.limits.per_host,
            ),
            "executor_hosts_busy": ("Target hosts with at least one slot in use.", sum(1 for n in hosts if n > 0)),
            "executor_busiest_host_slots": ("Slots in use by the busiest target host.", max(hosts, default=0)),
        }

    register_once(Gauges(read))
    register_once(DeadRecords())
    register_once(ConsumerLag(service.settings, group_id(service.settings, "executor"), [service.topics.events]))
