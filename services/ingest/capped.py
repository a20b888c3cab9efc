"""Publishing writes that the tenant caps limit (decision 0030): admitted, published, then counted where they landed.

The routers call these instead of ``ctx.publish`` for a write that may make a schedule active (create, PATCH, PUT,
resume) or create a queue (a push): a refusal is a 422 in the endpoint family's shape, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence

from chronohook.readmodel.views import JobView
from schemas.events import Envelope, JobPushed
from services.ingest.cap_tallies import Position
from services.ingest.context import IngestContext


def positions(ctx: IngestContext, events: Sequence[Envelope], topic: str | None = None) -> list[Position]:
    """Where this process last wrote each of ``events``' jobs (``IngestContext.publish`` records it)."""
    found = (ctx.recent.position(e.job_id) for e in events)
    return [(topic or ctx.topic, p[0], p[1]) for p in found if p is not None]


async def publish_schedule(
    ctx: IngestContext,
    tenant: str,
    before: JobView | None,
    after: JobView | None,
    events: Sequence[Envelope],
    field_name: str,
    atomically: bool = False,
) -> None:
    """Publish ``events``, which take a job from ``before`` to ``after``, if the schedule caps admit the change."""
    with await ctx.caps.schedules.admit(tenant, before, after, field_name) as admitted:
        await ctx.publish(list(events), atomically=atomically)
        admitted.wrote(positions(ctx, events[-1:]))


async def publish_pushes(
    ctx: IngestContext, tenant: str, events: Sequence[JobPushed], atomically: bool = False
) -> None:
    """Publish pushed jobs, if the queue cap admits the queues they create."""
    with await ctx.caps.queues.admit(tenant, {e.queue for e in events}, "queue") as admitted:
        await ctx.publish(list[Envelope](events), atomically=atomically)
        admitted.wrote(positions(ctx, events))
