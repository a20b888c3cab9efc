"""Alerts in the read model (decision 0020): the list behind ``GET /api/alerts``, folded by the projector from
``AlertRaised`` and the delivery events, and each tenant's alert destination, folded from ``AlertDestinationSet`` /
``AlertDestinationCleared``, which ingest answers ``GET /api/alert-destination`` from and the executor reads when it
sends an alert.

Rows only: the fold has no side effects, so replaying the log into a fresh database gives the same rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from chronohook.store.engine import RawJson
from chronohook.store.tables import alert_destinations, alerts
from schemas.events import (
    Alert,
    AlertAbandoned,
    AlertDelivered,
    AlertDeliveryFailed,
    AlertDestinationCleared,
    AlertDestinationSet,
    AlertDue,
    AlertRaised,
    AlertRetryScheduled,
    Event,
    JobDeleted,
)

DeliveryStatus = Literal["pending", "retrying", "delivered", "abandoned"]
AlertFormat = Literal["json", "slack"]


def destination_key(tenant: str) -> str:
    """The record key (``job_id``) of a tenant's destination events: one partition keeps them in order."""
    return f"alert-destination:{tenant}"


@dataclass(frozen=True)
class AlertDestination:
    url: str
    format: AlertFormat
    updated_at: datetime


class AlertView(BaseModel):
    alert_id: str
    tenant: str
    alert: Alert
    delivery_status: DeliveryStatus
    delivery_attempts: int


def _status_update(event: Event) -> dict[str, Any] | None:
    """What a delivery event changes on its alert's row (the same steps as a callback's, docs/callbacks.md)."""
    match event:
        case AlertDue():
            status = "pending" if event.attempt == 1 else "retrying"
            return dict(delivery_status=status, delivery_attempts=event.attempt - 1)
        case AlertDelivered():
            return dict(delivery_status="delivered", delivery_attempts=event.attempt)
        case AlertDeliveryFailed():
            return dict(delivery_attempts=event.attempt)
        case AlertRetryScheduled():
            return dict(delivery_status="retrying")
        case AlertAbandoned():
            return dict(delivery_status="abandoned", delivery_attempts=event.attempts)
    return None


class AlertWrites:
    """One projector batch's alert writes, applied in event order inside the batch's transaction."""

    def __init__(self) -> None:
        self._steps: list[Event] = []

    def add(self, event: Event) -> None:
        if type(event) in _STEPS:
            self._steps.append(event)

    def flush(self, conn: Connection) -> None:
        for event in self._steps:
            _apply(conn, event)


# What AlertWrites keeps; compared by exact type (an isinstance of a pydantic model costs ~0.15 us per class, and
# this runs for every event the projector folds); the concrete event classes have no subclasses.
_STEPS: frozenset[type] = frozenset(
    {
        AlertRaised,
        AlertDue,
        AlertDelivered,
        AlertDeliveryFailed,
        AlertRetryScheduled,
        AlertAbandoned,
        AlertDestinationSet,
        AlertDestinationCleared,
        JobDeleted,
    }
)


def _apply(conn: Connection, event: Event) -> None:
    match event:
        case AlertRaised():
            exists = conn.execute(select(alerts.c.alert_id).where(alerts.c.alert_id == event.alert_id)).first()
            if exists is None:  # else a redelivered decision: the row is there
                a = event.alert
                conn.execute(
                    insert(alerts).values(
                        alert_id=event.alert_id,
                        tenant=event.tenant,
                        job_id=event.job_id,
                        cron_id=a.cron_id,
                        queue=a.queue,
                        kind=a.kind,
                        raised_at=a.raised_at,
                        delivery_status="pending",
                        delivery_attempts=0,
                        doc=RawJson(a.model_dump_json()),
                    )
                )
        case AlertDestinationSet():
            conn.execute(delete(alert_destinations).where(alert_destinations.c.tenant == event.tenant))
            conn.execute(
                insert(alert_destinations).values(
                    tenant=event.tenant, url=event.url, format=event.format, updated_at=event.occurred_at
                )
            )
        case AlertDestinationCleared():
            conn.execute(delete(alert_destinations).where(alert_destinations.c.tenant == event.tenant))
        case JobDeleted():
            # A cron is deleted with its history: its alerts go from the list too.
            conn.execute(delete(alerts).where(and_(alerts.c.job_id == event.job_id, alerts.c.tenant == event.tenant)))
        case _:
            values = _status_update(event)
            alert_id = getattr(event, "alert_id", None)
            if values is not None and isinstance(alert_id, str):
                where = and_(alerts.c.alert_id == alert_id, alerts.c.tenant == event.tenant)
                conn.execute(update(alerts).where(where).values(**values))


# -- reads -------------------------------------------------------------------------------------------------------
def alert_destination(engine: Engine, tenant: str) -> AlertDestination | None:
    query = select(alert_destinations.c.url, alert_destinations.c.format, alert_destinations.c.updated_at).where(
        alert_destinations.c.tenant == tenant
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    fmt: AlertFormat = "slack" if row[1] == "slack" else "json"
    return AlertDestination(url=row[0], format=fmt, updated_at=row[2])


def list_alerts(
    engine: Engine, tenant: str, limit: int, offset: int, cron_id: int | None = None, queue: str | None = None
) -> tuple[list[AlertView], int]:
    """The tenant's alerts, newest first, and how many there are in all (with the same filters)."""
    where = [alerts.c.tenant == tenant]
    if cron_id is not None:
        where.append(alerts.c.cron_id == cron_id)
    if queue is not None:
        where.append(alerts.c.queue == queue)
    cols = (alerts.c.alert_id, alerts.c.doc, alerts.c.delivery_status, alerts.c.delivery_attempts)
    query = (
        select(*cols)
        .where(and_(*where))
        .order_by(alerts.c.raised_at.desc(), alerts.c.alert_id.desc())
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(alerts).where(and_(*where))).scalar_one()
        rows = conn.execute(query).all()
    views = [
        AlertView(
            alert_id=r[0],
            tenant=tenant,
            alert=Alert.model_validate(_doc(r[1])),
            delivery_status=r[2],
            delivery_attempts=r[3],
        )
        for r in rows
    ]
    return views, int(total)


class DatabaseAlertDestinations:
    """The executor's view of tenants' destinations, read at send time (decision 0020), each answer kept for
    ``ttl`` seconds: alerts are rare, and a changed destination applies within that time."""

    def __init__(self, engine: Engine, ttl: float = 2.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[str, tuple[float, AlertDestination | None]] = {}

    async def destination(self, tenant: str) -> AlertDestination | None:
        hit = self._cache.get(tenant)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        found = await asyncio.to_thread(alert_destination, self.engine, tenant)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[tenant] = (time.monotonic(), found)
        return found


def _doc(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
