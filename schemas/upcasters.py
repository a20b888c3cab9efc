"""Upcasters: each turns a document of one event type from version n into version n + 1.

They are pure functions from a decoded JSON object to a new one (the input is never changed), registered per
event type: ``UPCASTERS[type][n]`` takes version n to n + 1. The codec runs a type's chain from a record's version
up to the type's current one (``CURRENT_VERSIONS``) and then validates the result against the current model, so an
upcaster only reshapes: it need not check what validation checks anyway. It raises ``UpcastError`` when the old
document cannot be reshaped (a field it needs is missing or of the wrong kind); the codec reports a ``CodecError``.

Old records are upcast on read, never rewritten: the log is the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Doc = dict[str, Any]
Upcaster = Callable[[Mapping[str, Any]], Doc]


class UpcastError(ValueError):
    """An old document that its upcaster cannot reshape."""


def job_dead_lettered_v1_to_v2(doc: Mapping[str, Any]) -> Doc:
    """``retries_enabled`` (a policy flag: true meant dead-lettered, false failed without retries) becomes
    ``final_status``, the outcome it stood for (decision 0023)."""
    retries_enabled = doc.get("retries_enabled")
    if not isinstance(retries_enabled, bool):
        raise UpcastError(f"JobDeadLettered v1 needs a boolean retries_enabled, got {retries_enabled!r}")
    out = {key: value for key, value in doc.items() if key != "retries_enabled"}
    out["final_status"] = "dead_lettered" if retries_enabled else "failed_no_retries"
    out["schema_version"] = 2
    return out


def named_job_v1_to_v2(doc: Mapping[str, Any]) -> Doc:
    """``JobCreated`` and ``JobUpdated`` v1 knew no time zone and no catch-up policy: UTC and ``latest`` are what
    the timer did for them (decision 0025). ``next_run_at`` stays unknown (None): the timer's ``JobScheduled`` or
    ``JobDue`` gives the read model its instant; nothing here computes one."""
    out = dict(doc)
    out.setdefault("timezone", "UTC")
    out.setdefault("catch_up", "latest")
    out.setdefault("next_run_at", None)
    out["schema_version"] = 2
    return out


UPCASTERS: dict[str, dict[int, Upcaster]] = {
    "JobDeadLettered": {1: job_dead_lettered_v1_to_v2},
    "JobCreated": {1: named_job_v1_to_v2},
    "JobUpdated": {1: named_job_v1_to_v2},
}
