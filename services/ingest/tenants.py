"""``chronohook tenants suspend|resume TENANT``: stop and restart all of one tenant's schedules (decision 0030).

Suspend appends a ``JobPaused`` (``by: operator``) for each of the tenant's active schedules (QuedUp scheduled jobs
and Recuro crons) as the read model has them; resume appends a ``JobResumed`` (``by: operator``) for each schedule
still paused by an operator, so a schedule its tenant had paused itself stays paused, and one the tenant paused
again while suspended too. Both are idempotent: run again, suspend pauses what was created or resumed meanwhile,
resume finds nothing left. The timer and the projector take the events as they take the APIs' pauses and resumes
(a resumed schedule skips the occurrences missed meanwhile). The tenant's tokens still work: revoke them too
(``chronohook tokens revoke``) to stop it creating or resuming. An operator's resume is not held to the tenant caps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from chronohook.ids import random_event_id
from chronohook.kafka.log import EventLog
from chronohook.readmodel.counts import active_schedule_ids, suspended_ids
from schemas.events import Envelope, JobPaused, JobResumed

# Events appended per write: a tenant with thousands of schedules is paused in a few round trips.
CHUNK = 500


def suspend_events(tenant: str, job_ids: Sequence[str], now: datetime) -> list[JobPaused]:
    """An operator's pause of each of ``job_ids``."""
    return [
        JobPaused(event_id=random_event_id(), job_id=j, tenant=tenant, occurred_at=now, by="operator") for j in job_ids
    ]


def resume_events(tenant: str, job_ids: Sequence[str], now: datetime) -> list[JobResumed]:
    """An operator's resume of each of ``job_ids``."""
    return [
        JobResumed(event_id=random_event_id(), job_id=j, tenant=tenant, occurred_at=now, by="operator") for j in job_ids
    ]


@dataclass(frozen=True)
class Outcome:
    tenant: str
    changed: int  # schedules paused (suspend) or resumed (resume)


def suspend(engine: Engine, log: EventLog, tenant: str, now: Callable[[], datetime]) -> Outcome:
    return _write(log, suspend_events(tenant, active_schedule_ids(engine, tenant), now()), tenant)


def resume(engine: Engine, log: EventLog, tenant: str, now: Callable[[], datetime]) -> Outcome:
    return _write(log, resume_events(tenant, suspended_ids(engine, tenant), now()), tenant)


def _write(log: EventLog, events: Sequence[Envelope], tenant: str) -> Outcome:
    async def append() -> None:
        for start in range(0, len(events), CHUNK):
            await log.append(list(events[start : start + CHUNK]))

    asyncio.run(append())
    return Outcome(tenant, len(events))
