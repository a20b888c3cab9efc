"""A tenant's caps on schedules and queues, decided (decision 0030). Pure: counts, the change asked for and the
limits in; None (accept) or a Refusal with its reason out. The counting is ``services/ingest/cap_tallies.py``'s.

Schedules (QuedUp jobs with a ``schedule``, Recuro crons) count while active: paused and deleted ones do not. Three
limits, each checked only when a change adds to what it limits (so a change that lowers a tenant's use is never
refused, even above a limit an operator lowered since):

* ``CHRONOHOOK_TENANT_MAX_CRONS``: active schedules per tenant;
* ``CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE``: occurrences a second the tenant's active schedules ask for in all, each
  counted at its shortest interval (``chronohook.schedule_rate``);
* ``CHRONOHOOK_TENANT_DELIVERY_RATE`` (when set): no one schedule may ask for more than the tenant's whole delivery
  budget: it could never be kept.

Queues: ``CHRONOHOOK_TENANT_MAX_QUEUES`` per tenant, whether a queue is created by a PATCH of its settings or by the
first job pushed to it. 0 turns any of them off. Every refusal is a 422: waiting does not lift a cap (a 429 would say
to retry), pausing or deleting does.
"""

from __future__ import annotations

from dataclasses import dataclass

from chronohook.readmodel.views import JobView
from chronohook.schedule_rate import schedule_rate
from chronohook.settings import Settings

# A sum of rates such as 1/60 + 1/60 + ... is compared with this much slack, so 100 schedules of 1/s fit a cap of 100.
RATE_SLACK = 1e-9


@dataclass(frozen=True)
class ScheduleLimits:
    max_active: int = 0
    max_rate: float = 0.0
    delivery_rate: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ScheduleLimits:
        return cls(settings.tenant_max_crons, settings.tenant_max_schedule_rate, settings.tenant_delivery_rate)

    @property
    def on(self) -> bool:
        return bool(self.max_active or self.max_rate or self.delivery_rate)


@dataclass(frozen=True)
class Usage:
    """A tenant's active schedules (or queues) and the occurrences a second they ask for in all."""

    count: int = 0
    rate: float = 0.0


@dataclass(frozen=True)
class ScheduleChange:
    """One job's schedule before and after a write: the expression while it is an active schedule, else None."""

    before: str | None
    after: str | None

    @property
    def before_rate(self) -> float:
        return 0.0 if self.before is None else schedule_rate(self.before)

    @property
    def after_rate(self) -> float:
        return 0.0 if self.after is None else schedule_rate(self.after)

    @property
    def delta(self) -> Usage:
        """What the write adds to the tenant's usage (negative when it takes away)."""
        count = (self.after is not None) - (self.before is not None)
        return Usage(count, self.after_rate - self.before_rate)


@dataclass(frozen=True)
class Refusal:
    setting: str  # the environment variable that sets the limit
    limit: float
    message: str


def active_schedule(view: JobView | None) -> str | None:
    """The job's expression while it is an active schedule (not paused, not deleted), else None."""
    return None if view is None or view.paused or not view.schedule else view.schedule


def schedule_change(before: JobView | None, after: JobView | None) -> ScheduleChange:
    return ScheduleChange(active_schedule(before), active_schedule(after))


def decide_schedule(usage: Usage, change: ScheduleChange, limits: ScheduleLimits) -> Refusal | None:
    """Accept ``change`` on top of the tenant's ``usage`` (None), or the first limit it would break."""
    if change.after is None:
        return None  # it ends paused, deleted or one-off: nothing of it is limited
    own, delta = change.after_rate, change.delta
    if limits.delivery_rate and own > limits.delivery_rate + RATE_SLACK and own > change.before_rate:
        return Refusal(
            "CHRONOHOOK_TENANT_DELIVERY_RATE",
            limits.delivery_rate,
            f"The schedule fires up to {_per_second(own)}, more than this tenant's whole delivery budget of "
            f"{_per_second(limits.delivery_rate)} (CHRONOHOOK_TENANT_DELIVERY_RATE): choose a longer interval.",
        )
    if limits.max_active and delta.count > 0 and usage.count + delta.count > limits.max_active:
        return Refusal(
            "CHRONOHOOK_TENANT_MAX_CRONS",
            limits.max_active,
            f"Too many active schedules: this tenant may have {limits.max_active} active at once "
            "(CHRONOHOOK_TENANT_MAX_CRONS). Pause or delete one first.",
        )
    if limits.max_rate and delta.rate > 0 and usage.rate + delta.rate > limits.max_rate + RATE_SLACK:
        return Refusal(
            "CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE",
            limits.max_rate,
            f"Too frequent: this schedule fires up to {_per_second(own)} and would bring this tenant's active "
            f"schedules to {_per_second(usage.rate + delta.rate)} in all, over the limit of "
            f"{_per_second(limits.max_rate)} (CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE; each schedule counts at its "
            "shortest interval). Choose a longer interval, or pause or delete another schedule.",
        )
    return None


def decide_queues(queues: int, new: int, max_queues: int) -> Refusal | None:
    """Accept ``new`` queues on top of the tenant's ``queues`` (None), or the refusal of ``max_queues``."""
    if not max_queues or new <= 0 or queues + new <= max_queues:
        return None
    return Refusal(
        "CHRONOHOOK_TENANT_MAX_QUEUES",
        max_queues,
        f"Too many queues: this tenant may have {max_queues} (CHRONOHOOK_TENANT_MAX_QUEUES). Push to an existing "
        "queue, or delete one first (DELETE /api/queues/{name}).",
    )


def _per_second(rate: float) -> str:
    text = f"{rate:.4g} occurrence{'' if f'{rate:.4g}' == '1' else 's'} a second"
    return f"{text} (one every {1 / rate:,.0f} s)" if 0 < rate < 1 else text
