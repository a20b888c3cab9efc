"""When a scheduled job runs: one frozen ``Schedule`` and its pure ``next_after`` (decision 0025).

The timer alone decides occurrences with it; ingest uses the same function only to answer ``next_run_at`` at once;
the projector copies the instants the events carry and never calls this module.

Expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 with **seconds first**, as in Quartz and
Spring (croniter's own 6th field is seconds last: ``second_at_beginning`` reorders), or are one of Vixie cron's
macros (``@hourly``, ``@daily``, ...: ``MACROS``), kept as written and read as their 5 fields. They match local
wall-clock times in an IANA time zone (``UTC`` by default). Daylight saving time:

* a matched local time that does not exist (the spring-forward gap) is skipped;
* a matched local time that occurs twice (the fall-back fold) runs once, at its first instance.

croniter alone gets both wrong with zone-aware bases (it runs a gap's 02:30 at 03:00 and a fold's 01:30 twice), so it
is only asked for wall-clock candidates here, and this module maps each to an instant.

Every search is bounded (decision 0031): a candidate in a gap moves the search to the gap's end (not one candidate at
a time through it), and ``next_after`` looks at most ``SEARCH_HORIZON`` (10 years) ahead and at most
``_MAX_CANDIDATES`` candidates. A schedule with no occurrence in that window is ``NeverFires``: every match of
``30 2 * 3 L0`` in Europe/Berlin falls in a spring-forward gap, and this answers so within a millisecond or two
instead of walking candidates to the year 10000.
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
# Candidates examined for one answer before giving up: a fold skips at most an hour's worth of a seconds-field
# schedule (3,600; a gap is jumped over whole) and the search below never needs to cross more.
_MAX_CANDIDATES = 10_000
# How far ahead next_after looks for an occurrence. The longest wait a 5- or 6-field expression has between two
# occurrences that exist is 8 years (``0 0 29 2 *`` from 2096-02-29 to 2104-02-29: 2100 is no leap year); an
# expression with nothing within 10 years "never fires" (decision 0031).
SEARCH_HORIZON = timedelta(days=3653)
# croniter's non-standard, non-deterministic or hash-seeded fields ("R" random, "H" hashed): refused, because
# next_after must give the same answer on every call.
_RANDOM_OR_HASHED = re.compile(r"(?<![A-Za-z])[HhRr](?![A-Za-z])")
# The macros of Vixie cron, which users of both products write (any letter case): the 5-field expression each is.
# A schedule keeps the macro as given (its API echoes it); only croniter is handed the fields.
MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


class ScheduleError(ChronohookError, ValueError):
    """A schedule that cannot be used; the message says why, for an API's field error."""


class InvalidCron(ScheduleError):
    pass


class UnknownTimeZone(ScheduleError):
    pass


class InvalidCatchUp(ScheduleError):
    pass


class NeverFires(InvalidCron):
    """The expression is valid but has no occurrence within the search window (``SEARCH_HORIZON`` ahead, or the years
    a datetime holds): every match is a date no calendar has, or falls in a daylight-saving gap of its zone."""


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; UnknownTimeZone when the tz database has no such zone (or it is not a zone name)."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name or "\\" in name:
        raise UnknownTimeZone(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownTimeZone(f"{name!r} is not an IANA time zone") from exc


def cron_fields(expression: str) -> str:
    """The fields an expression stands for: a macro's 5 fields, else the expression itself."""
    return MACROS.get(expression.lower(), expression)


def normalise_expression(expression: str) -> str:
    """The expression with single spaces (a macro as given, ``@daily``); InvalidCron unless it has 5 or 6 fields
    croniter accepts or is one of ``MACROS``."""
    fields = expression.split()
    if len(fields) == 1 and fields[0].lower() in MACROS:
        return fields[0]
    if len(fields) == 1 and fields[0].startswith("@"):
        raise InvalidCron(f"{fields[0]!r} is not a macro chronohook knows: use one of {', '.join(MACROS)}")
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
    def parse(
        cls,
        expression: str,
        timezone: str = DEFAULT_TIMEZONE,
        catch_up: str = DEFAULT_CATCH_UP,
        at: datetime | None = None,
    ) -> Schedule:
        """Validate everything: the fields, the zone, the policy, and that the expression fires at all in its zone
        within ``SEARCH_HORIZON`` after ``at`` (by default 2000-01-01): croniter takes dates no calendar has, such as
        ``0 0 31 2 *``, and a zone's gaps can swallow every match. NeverFires (an InvalidCron) when it does not."""
        zone(timezone)
        if catch_up not in CATCH_UP_POLICIES:
            raise InvalidCatchUp(f"{catch_up!r} is not a catch-up policy: use one of {', '.join(CATCH_UP_POLICIES)}")
        schedule = cls(normalise_expression(expression), timezone, "skip" if catch_up == "skip" else "latest")
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC) if at is None else at)  # NeverFires, bounded
        return schedule

    @property
    def seconds(self) -> bool:
        """True for a 6-field expression (seconds first)."""
        return self.expression.count(" ") == 5

    def next_after(self, instant: datetime) -> datetime:
        """The first occurrence strictly after ``instant`` (aware), as an aware UTC datetime; NeverFires when there is
        none within ``SEARCH_HORIZON`` (or before the year 10000)."""
        tz = zone(self.timezone)
        start = self._wall_position(instant, tz)
        limit = start + SEARCH_HORIZON if start < datetime.max - SEARCH_HORIZON else datetime.max
        it = self._candidates(start)
        for _ in range(_MAX_CANDIDATES):
            wall = _step(it, forward=True, what=self.expression)
            if wall > limit:
                break
            at = _first_instance(wall, tz)
            if at is None:
                # In a gap: every later candidate up to its end is in it too. Go on from the gap's end.
                it.set_current(_gap_bounds(wall, tz)[1] - _TICK, force=True)
                continue
            if at > instant:
                return at
        raise NeverFires(f"{self.expression!r} has no occurrence in {self.timezone} within {_YEARS} years")

    def latest_at_or_before(self, instant: datetime) -> datetime:
        """The last occurrence at or before ``instant`` (aware), as an aware UTC datetime."""
        tz = zone(self.timezone)
        it = self._candidates(self._wall_position(instant, tz) + _TICK)
        for _ in range(_MAX_CANDIDATES):
            wall = _step(it, forward=False, what=self.expression)
            at = _first_instance(wall, tz)
            if at is None:
                # In a gap: go on from its start (every earlier candidate down to it is in the gap too).
                it.set_current(_gap_bounds(wall, tz)[0], force=True)
                continue
            if at <= instant:
                return at
        raise NeverFires(f"{self.expression!r} has no occurrence near {instant.isoformat()}")

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
        return croniter(cron_fields(expression), datetime(2000, 1, 1), second_at_beginning=seconds)
    except CroniterBadCronError as exc:
        raise InvalidCron(f"{expression!r} is not a valid cron expression") from exc
    except CroniterError as exc:  # croniter's other refusals of an expression its validator passed
        raise InvalidCron(str(exc)) from exc


_YEARS = round(SEARCH_HORIZON.days / 365.25)


def _step(it: croniter, forward: bool, what: str) -> datetime:
    """croniter's next (or previous) wall-clock candidate; NeverFires past the years a datetime holds, or when
    croniter finds no date (its own bounded search: ``0 0 31 2 *``)."""
    try:
        found = it.get_next(datetime) if forward else it.get_prev(datetime)
    except (CroniterBadDateError, ValueError, OverflowError) as exc:  # ValueError: "year 10000 is out of range"
        raise NeverFires(f"{what!r} never fires") from exc
    assert isinstance(found, datetime)
    return found


def _gap_bounds(wall: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The naive wall times [start, end) of the gap that ``wall`` falls in (the clock jumps from start to end).

    T, the transition, lies between the wall time's two readings; it is found by bisection to the microsecond, and the
    gap is [T + earlier offset, T + later offset) in wall time.
    """
    # In a gap, fold=1 reads the wall time at the offset after the jump: an instant before T; fold=0, after it.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    earlier, later = low.astimezone(tz).utcoffset(), high.astimezone(tz).utcoffset()
    assert earlier is not None and later is not None
    while high - low > _TICK:
        mid = low + (high - low) / 2
        if mid.astimezone(tz).utcoffset() == earlier:
            low = mid
        else:
            high = mid
    transition = high.replace(tzinfo=None)
    return transition + earlier, transition + later


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


def first_run_at(
    expression: str | None, timezone: str, catch_up: str, run_at: datetime | None, at: datetime
) -> datetime:
    """A named job's ``next_run_at`` when it is created or redefined at ``at`` with this definition: the one rule,
    called once by ingest for its immediate answer and once by the timer when it arms the job (decision 0034). The
    definition is the one ingest validated (``Schedule.parse``, ``ScheduleChecked``): taken as it is, not parsed again
    (a parse costs about 0.2 ms; the timer arms every created cron)."""
    schedule = Schedule(expression, timezone, "skip" if catch_up == "skip" else "latest") if expression else None
    return first_due(schedule, run_at, at)
