"""When a scheduled job runs: one frozen ``Schedule`` and its pure ``next_after`` (decision 0025).

The timer alone decides occurrences with it; ingest uses the same function only to answer ``next_run_at`` at once;
the projector copies the instants the events carry and never calls this module.

Expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 with **seconds first**, as in Quartz and
Spring (croniter's own 6th field is seconds last: ``second_at_beginning`` reorders). They match local wall-clock
times in an IANA time zone (``UTC`` by default). Daylight saving time:

* a matched local time that does not exist (the spring-forward gap) is skipped;
* a matched local time that occurs twice (the fall-back fold) runs once, at its first instance.

croniter alone gets both wrong with zone-aware bases (it runs a gap's 02:30 at 03:00 and a fold's 01:30 twice), so it
is only asked for wall-clock candidates here, and this module maps each to an instant.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from chronohook.errors import ChronohookError

CatchUp = Literal["latest", "skip"]
CATCH_UP_POLICIES: tuple[str, ...] = get_args(CatchUp)
DEFAULT_TIMEZONE = "UTC"
DEFAULT_CATCH_UP: CatchUp = "latest"
# An occurrence the timer reaches later than this after its instant was missed (the timer was down): the schedule's
# catch-up policy applies. Anything less late still runs, late. Quartz's default misfire threshold.
MISFIRE_THRESHOLD = timedelta(seconds=60)

_TICK = timedelta(microseconds=1)
# Candidates examined for one answer before giving up: a gap or a fold skips at most an hour's worth of a
# seconds-field schedule (3,600) and the search below never needs to cross more.
_MAX_CANDIDATES = 10_000
# croniter's non-standard, non-deterministic or hash-seeded fields ("R" random, "H" hashed): refused, because
# next_after must give the same answer on every call.
_RANDOM_OR_HASHED = re.compile(r"(?<![A-Za-z])[HhRr](?![A-Za-z])")


class ScheduleError(ChronohookError, ValueError):
    """A schedule that cannot be used; the message says why, for an API's field error."""


class InvalidCron(ScheduleError):
    pass


class UnknownTimeZone(ScheduleError):
    pass


class InvalidCatchUp(ScheduleError):
    pass


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; UnknownTimeZone when the tz database has no such zone (or it is not a zone name)."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name or "\\" in name:
        raise UnknownTimeZone(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownTimeZone(f"{name!r} is not an IANA time zone") from exc


def normalise_expression(expression: str) -> str:
    """The expression with single spaces; InvalidCron unless it has 5 or 6 fields croniter accepts."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise InvalidCron(
            "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first"
        )
    if any(_RANDOM_OR_HASHED.search(f) for f in fields):
        raise InvalidCron("random (R) and hashed (H) fields are not supported")
    text = " ".join(fields)
    if not croniter.is_valid(text, second_at_beginning=len(fields) == 6):
        raise InvalidCron(f"{text!r} is not a valid cron expression")
    return text


@dataclass(frozen=True)
class Schedule:
    """A recurring job's schedule. Build one from user input with ``Schedule.parse``; from a stored, validated
    definition directly."""

    expression: str
    timezone: str = DEFAULT_TIMEZONE
    catch_up: CatchUp = DEFAULT_CATCH_UP

    @classmethod
    def parse(cls, expression: str, timezone: str = DEFAULT_TIMEZONE, catch_up: str = DEFAULT_CATCH_UP) -> Schedule:
        """Validate everything: the fields, the zone, the policy, and that the expression fires at all (croniter takes
        dates no calendar has, such as ``0 0 31 2 *``)."""
        zone(timezone)
        if catch_up not in CATCH_UP_POLICIES:
            raise InvalidCatchUp(f"{catch_up!r} is not a catch-up policy: use one of {', '.join(CATCH_UP_POLICIES)}")
        schedule = cls(normalise_expression(expression), timezone, "skip" if catch_up == "skip" else "latest")
        try:
            schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
        except (CroniterBadDateError, ScheduleError) as exc:
            raise InvalidCron(f"{schedule.expression!r} never fires") from exc
        return schedule

    @property
    def seconds(self) -> bool:
        """True for a 6-field expression (seconds first)."""
        return self.expression.count(" ") == 5

    def next_after(self, instant: datetime) -> datetime:
        """The first occurrence strictly after ``instant`` (aware), as an aware UTC datetime."""
        tz = zone(self.timezone)
        it = self._candidates(self._wall_position(instant, tz))
        for _ in range(_MAX_CANDIDATES):
            at = _first_instance(it.get_next(datetime), tz)
            if at is not None and at > instant:
                return at
        raise InvalidCron(f"{self.expression!r} has no occurrence near {instant.isoformat()}")

    def latest_at_or_before(self, instant: datetime) -> datetime:
        """The last occurrence at or before ``instant`` (aware), as an aware UTC datetime."""
        tz = zone(self.timezone)
        it = self._candidates(self._wall_position(instant, tz) + _TICK)
        for _ in range(_MAX_CANDIDATES):
            at = _first_instance(it.get_prev(datetime), tz)
            if at is not None and at <= instant:
                return at
        raise InvalidCron(f"{self.expression!r} has no occurrence near {instant.isoformat()}")

    def count_between(self, first: datetime, last: datetime, cap: int) -> int:
        """Occurrences in ``[first, last]``, counting at most ``cap``."""
        count = 0
        at = first - _TICK
        while count < cap:
            at = self.next_after(at)
            if at > last:
                break
            count += 1
        return count

    def _candidates(self, wall: datetime) -> croniter:
        """A croniter positioned at ``wall``: a copy of the expression's parsed template (parsing is ~80 % of a
        fresh croniter's cost: 550 of 660 us for a 6-field expression, measured)."""
        it = copy.copy(_template(self.expression, self.seconds))
        it.set_current(wall, force=True)
        return it

    @staticmethod
    def _wall_position(instant: datetime, tz: ZoneInfo) -> datetime:
        """The naive local wall time to search candidates from.

        In the second pass of a fold every wall time up to the fold's end already ran in the first pass, so the search
        starts at the fold's end: searching from the wall time itself would skip up to an hour of candidates one by
        one (or, backwards, miss the first pass's later ones).
        """
        local = instant.astimezone(tz)
        if local.fold == 1 and _is_ambiguous(local.replace(tzinfo=None), tz):
            return _fold_end(instant, tz) - _TICK
        return local.replace(tzinfo=None)


@lru_cache(maxsize=4096)
def _template(expression: str, seconds: bool) -> croniter:
    try:
        return croniter(expression, datetime(2000, 1, 1), second_at_beginning=seconds)
    except CroniterBadCronError as exc:
        raise InvalidCron(f"{expression!r} is not a valid cron expression") from exc
    except CroniterError as exc:  # croniter's other refusals of an expression its validator passed
        raise InvalidCron(str(exc)) from exc


def _first_instance(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant of a naive local wall time: None inside a gap, the first instance inside a fold."""
    first = wall.replace(tzinfo=tz, fold=0)
    as_utc = first.astimezone(UTC)
    if as_utc.astimezone(tz).replace(tzinfo=None) != wall:
        return None  # the wall clock jumped over it
    return as_utc


def _is_ambiguous(wall: datetime, tz: ZoneInfo) -> bool:
    return wall.replace(tzinfo=tz, fold=0).utcoffset() != wall.replace(tzinfo=tz, fold=1).utcoffset()


def _fold_end(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall time at which the fold ``instant`` is in the second pass of ends (the first unrepeated one).

    The second pass runs at the later offset from the transition T until T + (earlier offset - later offset); its
    end, in wall time, is that instant at the later offset. T is found by bisection to the microsecond.
    """
    local = instant.astimezone(tz)
    wall = local.replace(tzinfo=None)
    earlier = wall.replace(tzinfo=tz, fold=0).utcoffset()
    later = local.utcoffset()
    assert earlier is not None and later is not None
    shift = earlier - later
    low, high = instant - shift, instant  # low: still at the earlier offset; high: at the later one
    while high - low > _TICK:
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == later:
            high = mid
        else:
            low = mid
    end = high + shift
    return end.astimezone(tz).replace(tzinfo=None)


def first_due(schedule: Schedule | None, run_at: datetime | None, at: datetime) -> datetime:
    """When a named job created or redefined at ``at`` first runs: the schedule wins over ``run_at``; neither: now."""
    if schedule is not None:
        return schedule.next_after(at)
    if run_at is not None:
        return run_at.astimezone(UTC)
    return at


def resumed_due(schedule: Schedule, next_due: datetime | None, at: datetime) -> datetime:
    """A scheduled job resumed at ``at``: its next occurrence still ahead, else the first after ``at`` (the
    occurrences missed while paused are skipped: a pause is asked for, not downtime)."""
    if next_due is not None and next_due >= at:
        return next_due
    return schedule.next_after(at)
