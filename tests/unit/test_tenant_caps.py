"""The tenant caps on schedules and queues, decided: pure, table-driven (decision 0030)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chronohook.readmodel.views import JobView
from schemas.events import HttpRequestSpec
from services.ingest.caps import (
    Refusal,
    ScheduleChange,
    ScheduleLimits,
    Usage,
    active_schedule,
    decide_queues,
    decide_schedule,
    schedule_change,
)

LIMITS = ScheduleLimits(max_active=3, max_rate=2.0, delivery_rate=0.0)
EVERY_SECOND, EVERY_2S, DAILY = "* * * * * *", "*/2 * * * * *", "0 9 * * *"


@pytest.mark.parametrize(
    ("usage", "change", "limits", "refused_by"),
    [
        # a new active schedule within every limit
        (Usage(0, 0.0), ScheduleChange(None, DAILY), LIMITS, None),
        (Usage(2, 1.0), ScheduleChange(None, EVERY_SECOND), LIMITS, None),  # exactly at both caps: accepted
        # the count cap
        (Usage(3, 0.0), ScheduleChange(None, DAILY), LIMITS, "CHRONOHOOK_TENANT_MAX_CRONS"),
        # at the count cap, redefining an active schedule adds none
        (Usage(3, 0.0), ScheduleChange(DAILY, EVERY_SECOND), LIMITS, None),
        # the rate cap: 1.5 + 1 > 2
        (Usage(1, 1.5), ScheduleChange(None, EVERY_SECOND), LIMITS, "CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE"),
        # the rate cap counts the change's difference: every 2 s -> every second adds 0.5
        (Usage(2, 1.5), ScheduleChange(EVERY_2S, EVERY_SECOND), LIMITS, None),
        (Usage(2, 1.6), ScheduleChange(EVERY_2S, EVERY_SECOND), LIMITS, "CHRONOHOOK_TENANT_MAX_SCHEDULE_RATE"),
        # a change that lowers use is never refused, even above limits lowered since
        (Usage(9, 9.0), ScheduleChange(EVERY_SECOND, DAILY), LIMITS, None),
        # pausing, deleting, or ending up a one-off: nothing to limit
        (Usage(9, 9.0), ScheduleChange(EVERY_SECOND, None), LIMITS, None),
        (Usage(9, 9.0), ScheduleChange(None, None), LIMITS, None),
        # the delivery budget: one schedule faster than the tenant's whole budget
        (
            Usage(0, 0.0),
            ScheduleChange(None, EVERY_SECOND),
            ScheduleLimits(delivery_rate=0.5),
            "CHRONOHOOK_TENANT_DELIVERY_RATE",
        ),
        (Usage(0, 0.0), ScheduleChange(None, EVERY_2S), ScheduleLimits(delivery_rate=0.5), None),  # at the budget
        # ... but a change that slows a schedule already over it is let through
        (Usage(1, 1.0), ScheduleChange(EVERY_SECOND, EVERY_2S), ScheduleLimits(delivery_rate=0.25), None),
        # the budget is checked before the caps
        (
            Usage(3, 0.0),
            ScheduleChange(None, EVERY_SECOND),
            ScheduleLimits(3, 2.0, 0.5),
            "CHRONOHOOK_TENANT_DELIVERY_RATE",
        ),
        # every limit off (0)
        (Usage(10**6, 10.0**6), ScheduleChange(None, EVERY_SECOND), ScheduleLimits(), None),
        # 100 schedules of 1/s fit a cap of 100 (float sums)
        (Usage(99, sum([1.0] * 99)), ScheduleChange(None, EVERY_SECOND), ScheduleLimits(0, 100.0), None),
        (Usage(59, sum([1 / 60] * 59)), ScheduleChange(None, "* * * * *"), ScheduleLimits(0, 1.0), None),
    ],
)
def test_decide_schedule(usage: Usage, change: ScheduleChange, limits: ScheduleLimits, refused_by: str | None) -> None:
    refusal = decide_schedule(usage, change, limits)
    assert (refusal and refusal.setting) == refused_by
    if refusal is not None:
        # The message names the limit and the setting
        assert refusal.setting in refusal.message
        assert f"{refusal.limit:g}" in refusal.message


def test_the_rate_refusal_says_how_often_the_schedule_fires() -> None:
    refusal = decide_schedule(Usage(1, 2.0), ScheduleChange(None, EVERY_SECOND), LIMITS)
    assert isinstance(refusal, Refusal)
    assert "1 occurrence a second" in refusal.message and "3 occurrences a second in all" in refusal.message


@pytest.mark.parametrize(
    ("queues", "new", "cap", "refused"),
    [
        (0, 1, 1, False),
        (1, 1, 1, True),
        (999, 1, 1000, False),
        (999, 2, 1000, True),
        (5, 0, 1, False),
        (10**6, 5, 0, False),
    ],
)
def test_decide_queues(queues: int, new: int, cap: int, refused: bool) -> None:
    refusal = decide_queues(queues, new, cap)
    assert (refusal is not None) == refused
    if refusal is not None:
        assert "CHRONOHOOK_TENANT_MAX_QUEUES" in refusal.message and str(cap) in refusal.message


def _view(schedule: str | None, paused: bool = False) -> JobView:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    request = HttpRequestSpec(method="POST", url="https://example.com")
    return JobView(
        job_id="j",
        tenant="t",
        api="quedup",
        request=request,
        created_at=at,
        updated_at=at,
        schedule=schedule,
        paused=paused,
    )


@pytest.mark.parametrize(
    ("view", "active"),
    [(None, None), (_view(None), None), (_view(DAILY), DAILY), (_view(DAILY, paused=True), None), (_view(""), None)],
)
def test_an_active_schedule_is_a_schedule_not_paused(view: JobView | None, active: str | None) -> None:
    assert active_schedule(view) == active


def test_a_change_counts_what_it_adds() -> None:
    # create, pause, resume, redefine, delete
    assert schedule_change(None, _view(EVERY_SECOND)).delta == Usage(1, 1.0)
    assert schedule_change(_view(EVERY_SECOND), _view(EVERY_SECOND, paused=True)).delta == Usage(-1, -1.0)
    assert schedule_change(_view(EVERY_SECOND, paused=True), _view(EVERY_SECOND)).delta == Usage(1, 1.0)
    assert schedule_change(_view(EVERY_SECOND), _view(EVERY_2S)).delta == Usage(0, -0.5)
    assert schedule_change(_view(EVERY_SECOND), None).delta == Usage(-1, -1.0)
