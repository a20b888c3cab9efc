"""How far ahead of its instant the timer hands an entry out (decision 0036).

An entry is fired ``timer_lead_ms`` before it is due, and the executor holds its ``JobDue`` until the instant
(decision 0006). That lead covers a quiet step. Under a burst a step does much more (up to ``timer_fire_max_entries``
fires and as many results read, then a commit): an entry that enters the window just after a step began is fired by
the next one and reaches the executors only when that one commits, so a fixed lead let a neighbour's jobs arrive up
to two steps late (p99 725 ms beside a 100,000-job burst). The lead therefore grows to twice the last step's work
while steps are long, and shrinks back by a tenth a step once they are short again, never below the configured
lead nor above ``MAX_LEAD``.

Only not-yet-due entries are affected: the executor still sends each at its instant, never before; what changes is
how early its ``JobDue`` is written (and so how long before its instant a pause of a one-off job comes too late to
hold it: docs/guarantees.md).
"""

from __future__ import annotations

from datetime import timedelta

# What a step's own slice adds to the lead: an entry due within it shares the step's transaction.
FIRE_SLICE = timedelta(milliseconds=25)
# The most the lead grows to, however long steps take.
MAX_LEAD = timedelta(seconds=2)
# A step's work counts this many times: the step under way when an entry enters the window, and the one firing it.
STEPS_COVERED = 2
# Once steps are short again, the lead shrinks by this factor a step.
SHRINK = 0.9


def next_lead(configured: timedelta, current: timedelta, step_work: timedelta) -> timedelta:
    """The lead for the next step, given the configured one, the current one and the last step's work (from its
    records read to its commit, on the clock passed in)."""
    grown = max(configured, STEPS_COVERED * step_work, current * SHRINK)
    return min(grown, max(configured, MAX_LEAD))


def hand_out(lead: timedelta) -> timedelta:
    """How far ahead of its instant a step fires an entry: the lead and the step's slice."""
    return lead + FIRE_SLICE
