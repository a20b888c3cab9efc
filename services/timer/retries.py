"""The one retry decision, for every kind of job: after a run, retry at a time, dead-letter, or done.

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

from schemas.events import Api, JobFailed, JobSucceeded, QueueSettings, RetryPolicy

# (tenant, queue name) -> the Recuro queue's settings in force (services/timer/queues.py keeps them).
QueueSettingsLookup = Callable[[str, str], QueueSettings]

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
