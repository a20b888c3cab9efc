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

from schemas.events import Envelope

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

# (event type, version) -> the frozen model of that version, for every version below a type's current one.
FROZEN: dict[tuple[str, int], type[Envelope]] = {
    ("JobDeadLettered", 1): JobDeadLetteredV1,
}
