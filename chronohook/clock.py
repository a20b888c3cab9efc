"""Time as an injected dependency: services take a Clock, tests pass a FixedClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now = self._now + timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        self._now = when


def to_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def rfc3339(when: datetime | None) -> str | None:
    """UTC, second precision or millisecond when present, with a ``Z`` suffix (QuedUp's style)."""
    if when is None:
        return None
    when = when.astimezone(UTC)
    if when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso8601_offset(when: datetime) -> str:
    """Recuro's style: ``2026-04-10T14:10:00+00:00``."""
    return when.astimezone(UTC).replace(microsecond=0).isoformat()


def iso8601_instant(when: datetime) -> str:
    """A promised instant (``scheduled_at``, ``next_run_at``) in Recuro's style, with its milliseconds when it has any
    (``14:10:00.250+00:00``): a whole-second instant reads exactly as Recuro writes it, and none is echoed rounded."""
    when = when.astimezone(UTC)
    return when.isoformat(timespec="milliseconds" if when.microsecond // 1000 else "seconds")
