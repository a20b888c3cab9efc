"""Frozen copies of the older versions of event models: never edit one.

Records of these versions stay in the job log forever (it is the audit trail), so their shapes stay part of the
contract. Each model here is the one that wrote them, class name and docstring included: ``schemas.export``
generates ``schemas/json/<Type>.v<n>.json`` from it, which must stay byte for byte what that version published, and
tests build version-n records from it as an old producer wrote them. The codec never validates against these: it
upcasts an old document (``schemas/upcasters.py``) and validates it against the current model.

To retire a version here, move the current model's text in before changing it in ``schemas/events.py``, in a
module section of its own, and add it to ``FROZEN``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.events import Api, Envelope, HttpRequestSpec, RetryPolicy

# -- JobDeadLettered, version 1 (until decision 0023): ``retries_enabled`` where version 2 has ``final_status`` --


class JobDeadLettered(Envelope):
    """Every attempt failed (or retries are off): the job ends as failed. A Recuro retry chain's is keyed by the
    chain's original job (``failed_run_id`` is then the last retry's run)."""

    type: Literal["JobDeadLettered"] = "JobDeadLettered"
    failed_run_id: str
    attempts: int
    retries_enabled: bool
    purge_at: AwareDatetime | None = Field(
        default=None,
        description="A Recuro dead letter's end: dead-lettered + its queue's dlq_retention_days as they stood then, "
        "when the timer purges it (JobPurged) unless it is replayed or deleted first. None: not kept as a dead letter.",
    )


JobDeadLetteredV1 = JobDeadLettered

# -- JobCreated and JobUpdated, version 1 (until decision 0025): no ``timezone``, ``catch_up`` or ``next_run_at`` --


class JobCreated(Envelope):
    """A named job (QuedUp job or Recuro cron): one-off at ``run_at``/now, or recurring on ``schedule``."""

    type: Literal["JobCreated"] = "JobCreated"
    api: Api
    name: str
    request: HttpRequestSpec
    schedule: str | None = None
    run_at: AwareDatetime | None = None
    callback_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    active: bool = True
    integer_id: int | None = Field(default=None, description="Recuro cron id.")
    alert_threshold: int | None = Field(default=None, description="Recuro cron: failures in a row that alert.")


JobCreatedV1 = JobCreated


class JobUpdated(Envelope):
    """The full new definition of a named job after a PATCH; it re-arms the job, even one that had finished."""

    type: Literal["JobUpdated"] = "JobUpdated"
    api: Api = "quedup"
    name: str
    request: HttpRequestSpec
    schedule: str | None = None
    run_at: AwareDatetime | None = None
    callback_url: str | None = None
    retry: RetryPolicy = RetryPolicy()
    active: bool = True
    alert_threshold: int | None = Field(default=None, description="Recuro cron: failures in a row that alert.")


JobUpdatedV1 = JobUpdated

# (event type, version) -> the frozen model of that version, for every version below a type's current one.
FROZEN: dict[tuple[str, int], type[Envelope]] = {
    ("JobDeadLettered", 1): JobDeadLetteredV1,
    ("JobCreated", 1): JobCreatedV1,
    ("JobUpdated", 1): JobUpdatedV1,
}
