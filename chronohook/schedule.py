"""Cron and one-off timing, shared by ingest (to answer ``next_run_at``), timer and projector. UTC for now."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter


class InvalidCron(ValueError):
    pass


def validate_cron(expression: str) -> str:
    """Accept standard 5-field expressions only (``*``, ``,``, ``-``, ``/``, names; day-of-week 0-7)."""
    fields = expression.split()
    if len(fields) != 5:
        raise InvalidCron("a cron expression has exactly 5 fields: minute hour day-of-month month day-of-week")
    if not croniter.is_valid(expression):
        raise InvalidCron(f"{expression!r} is not a valid cron expression")
    return " ".join(fields)


def next_occurrence(expression: str, after: datetime) -> datetime:
    """The first occurrence strictly after ``after``."""
    base = after.astimezone(UTC)
    nxt = croniter(expression, base).get_next(datetime)
    assert isinstance(nxt, datetime)
    return nxt.astimezone(UTC)


def first_run_at(schedule: str | None, run_at: datetime | None, now: datetime) -> datetime:
    """When a named job first runs: the schedule wins over ``run_at``; neither means now."""
    if schedule:
        return next_occurrence(schedule, now)
    if run_at is not None:
        return run_at.astimezone(UTC)
    return now
