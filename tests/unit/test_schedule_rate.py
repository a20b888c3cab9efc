"""How often a schedule fires at most: its shortest interval over a bounded look-ahead (decision 0030)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chronohook.schedule_rate import resolution, schedule_rate, shortest_interval


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("* * * * * *", 1.0),  # every second: 1/s
        ("*/2 * * * * *", 2.0),
        ("0 */5 * * * *", 300.0),  # seconds first: second 0 of every fifth minute
        ("*/5 * * * *", 300.0),
        ("* * * * *", 60.0),
        ("0 9 * * *", 86_400.0),
        ("0 * * * *", 3_600.0),
        ("0 9 * * 1-5", 86_400.0),  # Mon-Fri: the shortest is a weekday to the next
        ("0 0 * * 1", 604_800.0),
        ("0,59 0,59 * * * *", 1.0),  # 00:59:59 -> 01:00:00: a wrap into the next hour
        ("0 0,30 9 * * *", 1_800.0),
        ("0 0 1 1 *", 365 * 86_400.0),  # yearly: the walk goes past the horizon for a second occurrence
        ("0 0 29 2 *", (366 + 3 * 365) * 86_400.0),  # 29 February: four years apart
        ("  *   * * * * * ", 1.0),  # spacing does not matter
    ],
)
def test_shortest_interval(expression: str, seconds: float) -> None:
    assert shortest_interval(expression) == seconds


@pytest.mark.parametrize(
    ("expression", "rate"), [("* * * * * *", 1.0), ("*/2 * * * * *", 0.5), ("0 9 * * *", 1 / 86_400)]
)
def test_rate_is_one_over_the_shortest_interval(expression: str, rate: float) -> None:
    assert schedule_rate(expression) == pytest.approx(rate)


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "not a cron", "61 * * * *"])
def test_an_expression_that_never_fires_or_does_not_parse_has_no_interval_and_no_rate(expression: str) -> None:
    assert shortest_interval(expression) is None
    assert schedule_rate(expression) == 0.0


def test_the_walk_is_bounded_by_occurrences_and_horizon() -> None:
    # Given an expression whose short gap shows only after a long walk (minute 0 and 59 of one hour a day: the
    # 59 -> 0 wrap never comes; 12:00 -> 12:59 is the shortest)
    # When walked with room for two occurrences only, then a horizon of an hour
    # Then each bound stops the walk where it says
    assert shortest_interval("0 0,59 12 * * *", max_occurrences=2) == 59 * 60.0
    assert shortest_interval("0 0 * * * *", horizon=timedelta(hours=1)) == 3_600.0
    # And the start is a parameter (pure): from noon, the first gap seen is the same
    assert shortest_interval("0 0,59 12 * * *", start=datetime(2000, 1, 1, 12, 30)) == 59 * 60.0


@pytest.mark.parametrize(("expression", "floor"), [("* * * * * *", 1.0), ("* * * * *", 60.0)])
def test_resolution(expression: str, floor: float) -> None:
    assert resolution(expression) == floor
