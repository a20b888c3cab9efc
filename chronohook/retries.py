"""The retry room: every retry delay and the one retry decision, for jobs, callbacks and alerts (decisions 0016, 0034).

Jobs: after a run, retry at a time, dead-letter, or done (``next_step``), and where the job record then stands
(``final_status``, Recuro's vocabulary from schemas/events.py). Callbacks and alerts: the next try of a POST that got
no 2xx, or none (``delivery_retry_at``). Pure functions; every service imports them from here (the kernel).

In the style of dramatiq's ``compute_backoff`` and its Retries middleware, but with fixed schedules (the seed
products document lists of delays, not a backoff formula) and pure: the time is passed in, so a replay of the log
decides exactly the same. Decision 0016 (docs/decisions/0016-retry-room.md) states the rules.

- QuedUp jobs: 7 attempts, immediately, immediately, +5 min, +15 min, +1 h, +3 h, +6 h (each delay counted from
  the failure before it), then ``failed``.
- Recuro queue jobs: the queue's ``retry_delays`` (default 60 s, 30 min, 3 h) while ``retries_enabled``, as the
  queue's settings stand when the run fails; else no retry (``failed_no_retries``).
- Recuro crons: no retries (Recuro documents none); the next occurrence is the next try.

A receiver's ``Retry-After`` on a 429 or 503 (delay-seconds or an HTTP date) can only postpone the next attempt,
never bring it forward, and by at most ``RETRY_AFTER_CAP`` after the failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from schemas.events import Api, DeadEnd, FinalStatus, JobFailed, JobSucceeded, QueueSettings, RetryPolicy

# (tenant, queue name) -> the Recuro queue's settings in force (services/timer/queues.py keeps them).
QueueSettingsLookup = Callable[[str, str], QueueSettings]

# QuedUp: 7 attempts on a fixed schedule: immediately (the run itself), immediately, then 5 min, 15 min, 1 h, 3 h and
# 6 h after the previous failure (as QuedUp's product documentation describes; its Create Job page states none).
QUEDUP_RETRIES = RetryPolicy(delays=(0, 300, 900, 3600, 10800, 21600))
# Recuro: a queue's default retry_delays (the queue settings' own default, schemas/events.py).
RECURO_QUEUE_RETRIES = RetryPolicy(delays=tuple(float(d) for d in QueueSettings().retry_delays))
# Completion callbacks and alerts: seconds before each further try of a POST that got no 2xx; after the last, it is
# abandoned (six attempts in all).
CALLBACK_RETRY_DELAYS: tuple[float, ...] = (5, 30, 120, 600, 1800)
ALERT_RETRY_DELAYS: tuple[float, ...] = CALLBACK_RETRY_DELAYS

# A receiver may ask us to wait, but not to park a job for days: past this bound the schedule goes on as if the
# answer had said exactly this long (one hour, the longest single wait Svix and QStash honour by default).
RETRY_AFTER_CAP = timedelta(hours=1)
# The statuses whose Retry-After means "slow down" (RFC 9110 15.5.20 / 15.6.4).
RETRY_AFTER_STATUSES = frozenset({429, 503})
# A Retry-After longer than this many digits is past any cap anyway; parsing it would only cost time.
_MAX_SECONDS_DIGITS = 12


@dataclass(frozen=True)
class Policy:
    """How a job retries: ``delays[k]`` seconds after the failure of attempt ``k + 1``; ``enabled`` False means
    no retry at all (Recuro's ``failed_no_retries``), as does an enabled policy whose delays are exhausted."""

    enabled: bool
    delays: tuple[float, ...]

    @classmethod
    def of_job(cls, retry: RetryPolicy) -> Policy:
        """A job's own policy, as its creating event carries it: an empty list of delays means no retries."""
        return cls(enabled=bool(retry.delays), delays=tuple(retry.delays))

    @classmethod
    def of_queue(cls, settings: QueueSettings) -> Policy:
        return cls(enabled=settings.retries_enabled, delays=tuple(float(d) for d in settings.retry_delays))


def policy_for(api: Api, own: RetryPolicy, queue: QueueSettings | None = None) -> Policy:
    """The policy in force for a job of ``api``: a Recuro queue job follows its queue's settings when they are
    known (``queue``), else the policy its push carried; every other job follows its own."""
    if api == "recuro" and queue is not None:
        return Policy.of_queue(queue)
    return Policy.of_job(own)


@dataclass(frozen=True)
class RetryAt:
    """Try again: attempt ``attempt`` at ``at``. ``retry_after`` says the receiver's Retry-After set the time."""

    at: datetime
    attempt: int
    retry_after: bool = False


@dataclass(frozen=True)
class DeadLetter:
    """No more attempts: ``attempts`` were made; ``retries_enabled`` False when the policy allowed none."""

    attempts: int
    retries_enabled: bool


@dataclass(frozen=True)
class Done:
    """The run succeeded: the job (or its retry chain) is resolved."""

    attempts: int


Step = RetryAt | DeadLetter | Done


def next_step(policy: Policy, attempt: int, outcome: JobSucceeded | JobFailed, now: datetime) -> Step:
    """What follows attempt number ``attempt`` (1-based, counted across a Recuro retry chain) given its result.

    ``now`` is the moment the delays count from: the timer passes the run's finish time, not its own clock, so a
    replay decides the same.
    """
    if isinstance(outcome, JobSucceeded):
        return Done(attempts=attempt)
    if not policy.enabled:
        return DeadLetter(attempts=attempt, retries_enabled=False)
    if attempt < 1 or attempt > len(policy.delays):
        return DeadLetter(attempts=attempt, retries_enabled=True)
    at = now + timedelta(seconds=max(0.0, policy.delays[attempt - 1]))
    asked = requested_wait(outcome.outcome.response_status, outcome.outcome.response_headers, now)
    if asked is not None and now + asked > at:
        return RetryAt(at=now + asked, attempt=attempt + 1, retry_after=True)
    return RetryAt(at=at, attempt=attempt + 1)


def requested_wait(status: int | None, headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """The wait a 429/503 answer's ``Retry-After`` asks for, at most ``RETRY_AFTER_CAP``; None when there is none
    to honour (another status, no header, or one that is neither delay-seconds nor an HTTP date)."""
    if status not in RETRY_AFTER_STATUSES:
        return None
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    wait = _parse_retry_after(value.strip(), now)
    if wait is None:
        return None
    return min(max(wait, timedelta(0)), RETRY_AFTER_CAP)


def _parse_retry_after(value: str, now: datetime) -> timedelta | None:
    if value.isascii() and value.isdigit():
        # delay-seconds; a huge number is simply "as long as allowed"
        return RETRY_AFTER_CAP if len(value) > _MAX_SECONDS_DIGITS else timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": a time in UTC from a source that would not say so
        when = when.replace(tzinfo=UTC)
    return when - now


def delivery_retry_at(delays: tuple[float, ...], attempt: int, failed_at: datetime) -> datetime | None:
    """When a callback's or alert's attempt number ``attempt`` (1-based) that failed at ``failed_at`` is tried again;
    None: it was the last, give up."""
    if attempt < 1 or attempt > len(delays):
        return None
    return failed_at + timedelta(seconds=delays[attempt - 1])


def final_status(step: Step | None, *, retry: bool) -> FinalStatus | None:
    """Where one job record stands after its run, the one rule (decision 0034). ``step``: what ``next_step`` decided
    for the run (None: not decided here); ``retry``: the record is a Recuro retry job (``retry_of`` set).

    A record describes itself: a retry job whose attempt failed is ``failed_with_retries`` whether or not another
    retry follows (the chain's outcome is its original's: ``dead_lettered`` with ``dead_lettered_at``, listed at
    ``/api/dead-letters``). Any other job record (a Recuro original, a QuedUp job, a cron) is ``retrying`` while its
    retry is scheduled, then ends ``dead_lettered`` or ``failed_no_retries``; None while undecided."""
    if isinstance(step, Done):
        return "success"
    if retry:
        return "failed_with_retries"
    if isinstance(step, RetryAt):
        return "retrying"
    if isinstance(step, DeadLetter):
        return dead_end(step)
    return None


def dead_end(step: DeadLetter) -> DeadEnd:
    """How a job (a Recuro chain: its original) ends when its retries are over: ``final_status``'s dead ends."""
    return "dead_lettered" if step.retries_enabled else "failed_no_retries"
