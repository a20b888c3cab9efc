"""The tenant delivery budget (decision 0028): its maths, its bounds, and what it does to a job's attempts: delayed
to the instant the budget allows, never dropped, and saying so on the JobDue and the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chronohook.clock import FixedClock, to_ms
from chronohook.readmodel.views import run_view
from schemas.changelog import TimerEntry
from schemas.events import HttpRequestSpec, JobDue, JobSucceeded, RetryPolicy, RunOutcome
from services.timer.budget import TenantBudgets, allowed_at, budgeted, burst_of, share_of
from services.timer.domain import fire
from services.timer.queues import default_settings
from tests.unit.test_timer_firing import created, events_of, timer

T0 = datetime(2026, 4, 10, 14, 5, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tat", "at", "interval", "burst", "allowed", "new_tat"),
    [
        # A full bucket (no state): now, and the next attempt's slot one interval on.
        (None, 1_000, 100.0, 1, 1_000, 1_100.0),
        # Burst 1: the next attempt at the same instant waits one interval.
        (1_100.0, 1_000, 100.0, 1, 1_100, 1_200.0),
        # ... and the one after it, two.
        (1_200.0, 1_000, 100.0, 1, 1_200, 1_300.0),
        # Burst 3: two more may go at once (tolerance 200 ms), the fourth waits.
        (1_100.0, 1_000, 100.0, 3, 1_000, 1_200.0),
        (1_200.0, 1_000, 100.0, 3, 1_000, 1_300.0),
        (1_300.0, 1_000, 100.0, 3, 1_100, 1_400.0),
        # Idle long enough: full again, not credited beyond the burst.
        (1_300.0, 9_000, 100.0, 3, 9_000, 9_100.0),
        # Slightly early for its slot: waits just the difference.
        (1_500.0, 1_450, 100.0, 1, 1_500, 1_600.0),
        # A fractional interval (3 a second): instants are whole milliseconds, never early.
        (1_333.4, 1_000, 1000 / 3, 1, 1_334, 1_666.7333333333333),
    ],
)
def test_allowed_at(tat: float | None, at: int, interval: float, burst: int, allowed: int, new_tat: float) -> None:
    assert allowed_at(tat, at, interval, burst) == pytest.approx((allowed, new_tat))


@pytest.mark.parametrize(("rate", "burst"), [(0.5, 1), (1.0, 1), (2.5, 2), (10.0, 10), (250.0, 250)])
def test_the_burst_is_one_seconds_worth_and_at_least_one(rate: float, burst: int) -> None:
    assert burst_of(rate) == burst


@pytest.mark.parametrize(
    ("rate", "owned", "partitions", "share"),
    [(100.0, 3, 3, 100.0), (100.0, 1, 3, 100 / 3), (100.0, 2, 4, 50.0), (0.0, 3, 3, 0.0), (100.0, 0, 3, 0.0)],
)
def test_each_timer_applies_its_share_of_the_rate(rate: float, owned: int, partitions: int, share: float) -> None:
    assert share_of(rate, owned, partitions) == pytest.approx(share)


def test_over_budget_attempts_get_distinct_instants_at_the_rate_in_the_order_asked() -> None:
    # Given a budget of 2 a second (burst 2)
    budgets = TenantBudgets(2.0)
    # When 6 attempts of one tenant are asked for at the same instant, and one of another tenant
    instants = [budgets.allow("a", 10_000) for _ in range(6)]
    other = budgets.allow("b", 10_000)
    # Then two go at once and the others one interval (500 ms) apart; the other tenant is not held by the first
    assert instants == [10_000, 10_000, 10_500, 11_000, 11_500, 12_000]
    assert other == 10_000


def test_no_budget_allows_everything_at_once() -> None:
    budgets = TenantBudgets(0.0)
    assert [budgets.allow("a", 5) for _ in range(1000)] == [5] * 1000
    assert len(budgets) == 0


def test_tenants_kept_are_bounded_least_recently_seen_first_out() -> None:
    # Given a budget that keeps 3 tenants, each of which has just used its burst
    budgets = TenantBudgets(1.0, capacity=3)
    for tenant in ("a", "b", "c"):
        budgets.allow(tenant, 0)
    budgets.allow("a", 0)  # "a" is the most recently seen; "b" the least
    # When a fourth comes
    budgets.allow("d", 0)
    # Then only three are kept, and the dropped one starts full again
    assert len(budgets) == 3
    assert budgets.allow("b", 0) == 0
    assert budgets.allow("a", 0) > 0  # still remembered: it waits


def entry(job_id: str = "j1", due: datetime = T0, tenant: str = "t1", **more: object) -> TimerEntry:
    return TimerEntry.model_validate(
        dict(
            job_id=job_id, tenant=tenant, api="quedup", request=HttpRequestSpec(method="GET", url="http://127.0.0.2/"),
            retry=RetryPolicy(), next_due=due,
        ) | more
    )  # fmt: skip


def test_a_budgeted_attempt_is_held_then_fired_at_its_instant_saying_by_how_much() -> None:
    # Given a tenant that has used its budget (1 a second) at T0
    budgets = TenantBudgets(1.0)
    assert budgets.allow("t1", to_ms(T0)) == to_ms(T0)
    lead = timedelta(milliseconds=275)

    # When its next job, due at T0 too, is about to fire
    held = budgeted(entry(), T0, lead, budgets, default_settings)
    # Then it is held until a second later, and does not fire yet
    assert isinstance(held, TimerEntry) and held.held_until == T0 + timedelta(seconds=1)
    assert held.wake_at() == T0 + timedelta(seconds=1)
    assert fire(held, T0, lead) == (held, [])

    # When its instant comes within the lead
    later = T0 + timedelta(seconds=1) - lead
    after, [due] = fire(held, later, lead)
    # Then it fires, due at the instant allowed, planned at its own, delayed by the difference; the delay is spent
    assert isinstance(due, JobDue)
    assert (due.due_at, due.planned_at, due.delayed_by_ms) == (T0 + timedelta(seconds=1), T0, 1000)
    assert after is None or after.held_until is None  # (a one-off's entry stays while its run is in flight)
    assert isinstance(after, TimerEntry) and after.in_flight == (due.run_id,)
    # And its run id is the occurrence's, as without a budget
    assert due.run_id == f"j1:{to_ms(T0)}:1"


def test_within_budget_nothing_changes_and_the_jobdue_says_not_delayed() -> None:
    budgets = TenantBudgets(10.0)
    e = entry()
    assert budgeted(e, T0, timedelta(0), budgets, default_settings) is e
    _, [due] = fire(e, T0)
    assert isinstance(due, JobDue) and (due.planned_at, due.delayed_by_ms, due.due_at) == (None, 0, T0)


def test_the_budget_is_not_applied_to_what_does_not_fire_now() -> None:
    # Given a budget with nothing left, and entries that would not fire now: later, paused, already held
    budgets = TenantBudgets(1.0)
    budgets.allow("t1", to_ms(T0))
    later = entry(due=T0 + timedelta(minutes=5))
    paused = entry(paused=True)
    held = entry(held_until=T0 + timedelta(seconds=3))
    # Then they are left as they are, and no budget is taken for them
    for e in (later, paused, held):
        assert budgeted(e, T0, timedelta(0), budgets, default_settings) is e
    assert budgets.allow("t2", to_ms(T0)) == to_ms(T0)


def test_a_late_cron_held_by_the_budget_is_not_taken_for_missed() -> None:
    # Given a cron occurrence held by the budget for 3 minutes (past the 60 s misfire threshold)
    cron = entry(schedule="*/5 * * * *", due=T0, held_until=T0 + timedelta(minutes=3))
    # When its held instant comes
    _, emitted = fire(cron, T0 + timedelta(minutes=3))
    # Then it runs, delayed, rather than being counted missed
    [due] = emitted
    assert isinstance(due, JobDue) and due.delayed_by_ms == 180_000 and due.planned_at == T0


def test_the_run_shows_the_delay() -> None:
    # Given a run of a JobDue delayed by 1.5 s (the executor copies planned_at into its outcome)
    outcome = RunOutcome(
        run_id="j1:0:1", attempt=1, due_at=T0 + timedelta(milliseconds=1500), started_at=T0, finished_at=T0,
        duration_ms=1.0, request_headers={}, request_body=None, planned_at=T0,
    )  # fmt: skip
    # When the read model records it
    run = run_view(JobSucceeded(event_id="e", job_id="j1", tenant="t1", occurred_at=T0, outcome=outcome))
    # Then the run says when it was planned and by how much it was delayed
    assert (run.planned_at, run.delayed_by_ms) == (T0, 1500)


def test_through_the_timer_a_burst_over_budget_is_delayed_never_dropped(tmp_path: Path) -> None:
    # Given a timer (owning the only partition) with a budget of 2 deliveries a second, and 6 jobs of one tenant
    # plus 1 of another, all due at T0
    clock = FixedClock(T0)
    service, consumer, producer = timer(tmp_path, clock, tenant_delivery_rate=2.0)
    assert service.budgets.rate == 2.0
    consumer.waiting = [created(f"a{i}", T0, tenant="ta") for i in range(6)] + [created("b0", T0, tenant="tb")]
    service._last_commit -= 1

    # When the timer steps through the next 3 seconds, 50 ms at a time
    dues: list[JobDue] = []
    for _ in range(60):
        service.step()
        for transaction in producer.committed:
            dues += [e for e in events_of(transaction) if isinstance(e, JobDue)]
        producer.committed.clear()
        clock.advance(0.05)

    # Then every job fired exactly once; tenant ta's at 2 a second (2 at once, then 500 ms apart), tb's at once
    assert sorted(d.job_id for d in dues) == sorted([f"a{i}" for i in range(6)] + ["b0"])
    by_job = {d.job_id: d for d in dues}
    assert by_job["b0"].delayed_by_ms == 0
    delays = sorted(by_job[f"a{i}"].delayed_by_ms for i in range(6))
    assert delays == [0, 0, 500, 1000, 1500, 2000]
    assert all(d.due_at == T0 + timedelta(milliseconds=d.delayed_by_ms) for d in dues)
    # And the held entries were written to the changelog with their instants (a restart keeps the delay)
    assert all(service.store.get(0, f"a{i}") is not None for i in range(6))  # in flight until their results
