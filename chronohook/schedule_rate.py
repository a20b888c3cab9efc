"""How often a schedule fires at most: its shortest interval between occurrences, and the rate that makes (decision
0030). Pure: a bounded look-ahead of the schedule's next occurrences, from a fixed starting instant.

The walk is on the expression's local wall clock (croniter's candidates, as ``chronohook.schedule`` uses them), not
through a zone's daylight-saving shifts: a shift once or twice a year can bring two occurrences an hour closer, which
is no sustained rate, and ignoring it makes the answer one per expression whatever the zone, so it is cached by
expression. The walk stops at the first of:

* an interval as short as the expression can have (1 s with a seconds field, 60 s without): nothing is shorter;
* ``max_occurrences`` occurrences (500: a seconds field's wrap into the next minute, and a minute field's into the
  next hour, show within them for any list a person writes);
* an occurrence past ``horizon`` (8 days: a day-of-week list's wrap into the next week shows), once two were seen.

At ~50 us an occurrence, the longest walk costs ~25 ms, once per distinct expression (an LRU of them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from chronohook.schedule import cron_fields

# Every walk starts here: a fixed instant makes the answer a function of the expression alone (a Saturday, 1 January
# of a leap year).
START = datetime(2000, 1, 1)
MAX_OCCURRENCES = 500
HORIZON = timedelta(days=8)
EXPRESSIONS_CACHED = 65_536


def resolution(expression: str) -> float:
    """The shortest interval an expression can have: 1 s with a seconds field (6 fields), else 60 s."""
    return 1.0 if len(expression.split()) == 6 else 60.0


def shortest_interval(
    expression: str,
    start: datetime = START,
    max_occurrences: int = MAX_OCCURRENCES,
    horizon: timedelta = HORIZON,
) -> float | None:
    """The shortest interval, in seconds, between consecutive occurrences of ``expression`` seen from ``start`` (a
    naive wall-clock time) within the bounds above; None when it has fewer than two occurrences there (an expression
    that never fires, or one croniter refuses: validation is ``chronohook.schedule``'s job, not this one's)."""
    floor = resolution(expression)
    try:
        it = croniter(expression, start, second_at_beginning=floor == 1.0)
        previous: datetime = it.get_next(datetime)
        shortest: float | None = None
        for _ in range(max_occurrences - 1):
            at: datetime = it.get_next(datetime)
            gap = (at - previous).total_seconds()
            shortest = gap if shortest is None else min(shortest, gap)
            if shortest <= floor or at - start > horizon:
                break
            previous = at
    except (CroniterBadCronError, CroniterBadDateError, CroniterError, ValueError):
        return None
    return shortest


@lru_cache(maxsize=EXPRESSIONS_CACHED)
def schedule_rate(expression: str) -> float:
    """Occurrences per second ``expression`` asks for at its fastest: 1 / its shortest interval (0 when none)."""
    interval = shortest_interval(cron_fields(" ".join(expression.split())))
    return 0.0 if interval is None or interval <= 0 else 1.0 / interval
