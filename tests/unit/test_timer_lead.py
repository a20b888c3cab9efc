"""The timer's lead: how far ahead of its instant an entry is handed out (services/timer/lead.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.timer.lead import FIRE_SLICE, MAX_LEAD, hand_out, next_lead


def ms(n: float) -> timedelta:
    return timedelta(milliseconds=n)


@pytest.mark.parametrize(
    ("configured", "current", "step_work", "expected"),
    [
        # Given quiet steps, the configured lead holds
        (ms(250), ms(250), ms(3), ms(250)),
        (ms(250), ms(250), ms(0), ms(250)),
        # Given a step of 400 ms, the lead covers two such steps
        (ms(250), ms(250), ms(400), ms(800)),
        # Given a longer step than the last, it grows again
        (ms(250), ms(800), ms(500), ms(1000)),
        # Given short steps after long ones, it shrinks by a tenth a step, not at once
        (ms(250), ms(1000), ms(5), ms(900)),
        (ms(250), ms(270), ms(5), ms(250)),
        # Given a step of 5 s, the lead stops at MAX_LEAD
        (ms(250), ms(250), ms(5000), MAX_LEAD),
        # Given a configured lead above MAX_LEAD, it is kept, never cut
        (ms(3000), ms(3000), ms(4000), ms(3000)),
        # Given a lead of 0 (hand out at the instant), quiet steps keep it 0
        (ms(0), ms(0), ms(1), ms(2)),
    ],
)
def test_the_lead_follows_the_steps_work(
    configured: timedelta, current: timedelta, step_work: timedelta, expected: timedelta
) -> None:
    # When the next lead is decided after a step
    lead = next_lead(configured, current, step_work)
    # Then it is the configured lead, or two steps' work while steps are long, shrinking back slowly, within bounds
    assert lead == expected


def test_an_entry_is_handed_out_its_lead_and_the_step_slice_ahead() -> None:
    # Given a lead of 250 ms, when the hand-out distance is asked
    # Then it is the lead plus the slice that shares a step's transaction
    assert hand_out(ms(250)) == ms(250) + FIRE_SLICE


def test_a_sequence_of_long_steps_then_quiet_ones_returns_to_the_configured_lead() -> None:
    # Given a burst of 600 ms steps, then quiet 2 ms steps
    lead = ms(250)
    for _ in range(5):
        lead = next_lead(ms(250), lead, ms(600))
    assert lead == ms(1200)
    steps = 0
    while lead > ms(250):
        lead = next_lead(ms(250), lead, ms(2))
        steps += 1
    # Then the lead is back at the configured 250 ms within a bounded number of steps (a fraction of a second quiet)
    assert lead == ms(250) and steps <= 15
