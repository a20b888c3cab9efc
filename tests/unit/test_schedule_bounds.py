"""Every schedule search is bounded (decision 0031): a schedule whose matches all fall in a daylight-saving gap, on
dates no calendar has, or past the year 9999 is NeverFires (an InvalidCron), answered after a handful of candidates
instead of a walk to the year 10000; a gap is jumped over whole. The clock is always passed in.

Gaps used: Europe/Berlin springs forward on the last Sunday of March (02:00 -> 03:00), America/New_York on the second
Sunday of March since 2007 (2026-03-08, 02:00 EST -> 03:00 EDT), Australia/Lord_Howe on the first Sunday of October
by 30 minutes (02:00 -> 02:30).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chronohook.schedule import InvalidCron, NeverFires, Schedule

BERLIN = "Europe/Berlin"
NY = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"
NOW = datetime(2026, 4, 10, 14, 5, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("expression", "timezone", "at"),
    [
        ("30 2 * 3 L0", BERLIN, NOW),  # the last Sunday of March, 02:30: always in Berlin's gap
        ("30 2 * 3 0#2", NY, NOW),  # the second Sunday of March, 02:30: New York's gap since 2007
        ("* * 2 * 3 L0", BERLIN, NOW),  # every second of the gap's hour: 3,600 candidates a year, jumped at once
        ("*/5 * 2 * 3 L0", BERLIN, NOW),
        ("15 2 * 10 0#1", LORD_HOWE, NOW),  # a 30-minute gap
        ("0 0 31 2 *", "UTC", NOW),  # no such date
        ("0 0 30 2 *", BERLIN, NOW),
        ("0 0 1 1 *", "UTC", _at("9999-06-01T00:00:00+00:00")),  # the next one is in the year 10000
        ("* * * * *", "UTC", _at("9999-12-31T23:59:30+00:00")),
    ],
)
def test_a_schedule_with_no_occurrence_in_the_window_never_fires(expression: str, timezone: str, at: datetime) -> None:
    # Given a valid expression whose every match in the next 10 years is not a time in its zone
    schedule = Schedule(expression, timezone)
    # When its next occurrence is asked for. Then NeverFires, an InvalidCron that says why
    with pytest.raises(NeverFires, match=r"no occurrence|never fires"):
        schedule.next_after(at)
    assert issubclass(NeverFires, InvalidCron)


@pytest.mark.parametrize(
    ("expression", "timezone"),
    [("30 2 * 3 L0", BERLIN), ("* * 2 * 3 L0", BERLIN), ("0 0 31 2 *", "UTC"), ("15 2 * 10 0#1", LORD_HOWE)],
)
def test_parse_refuses_a_schedule_that_never_fires_from_the_time_given(expression: str, timezone: str) -> None:
    with pytest.raises(NeverFires):
        Schedule.parse(expression, timezone, at=NOW)


def test_parse_judges_from_the_time_given_not_from_2000() -> None:
    # Given New York's second Sunday of March at 02:30: a real time until 2006, in the gap since 2007
    # When it is parsed from 2000, and from now. Then it fires from 2000, and never from now
    assert Schedule.parse("30 2 * 3 0#2", NY).expression == "30 2 * 3 0#2"
    with pytest.raises(NeverFires):
        Schedule.parse("30 2 * 3 0#2", NY, at=NOW)


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        # Ordinary schedules are untouched
        ("30 2 * * *", BERLIN, "2026-04-10T00:00:00+00:00", "2026-04-10T00:30:00+00:00"),
        ("0 9 * * 1-5", NY, "2026-04-10T14:00:00+00:00", "2026-04-13T13:00:00+00:00"),
        ("30 2 * 3 L0", "UTC", "2026-04-10T00:00:00+00:00", "2027-03-28T02:30:00+00:00"),  # no gap in UTC
        ("30 2 * 3 L0", "Europe/London", "2026-04-10T00:00:00+00:00", "2027-03-28T01:30:00+00:00"),  # 01:00 gap
        # Leap days: across 2100, which is no leap year, 8 years apart, inside the 10-year window
        ("0 0 29 2 *", "UTC", "2026-03-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
        ("0 0 29 2 *", "UTC", "2096-03-01T00:00:00+00:00", "2104-02-29T00:00:00+00:00"),
        # A gap jumped over whole: every 20 minutes runs 01:40 EST, then 03:00 EDT
        ("*/20 * * * *", NY, "2026-03-08T06:40:00+00:00", "2026-03-08T07:00:00+00:00"),
        # Every second of the gap's hour, then the next day's 02:00:00
        ("* * 2 * * *", NY, "2026-03-08T06:59:59+00:00", "2026-03-09T06:00:00+00:00"),
        # Lord Howe's half-hour gap: 02:15 is skipped, 02:45 runs (at +11:00)
        ("15,45 2 * * *", LORD_HOWE, "2026-10-03T15:00:00+00:00", "2026-10-03T15:45:00+00:00"),
    ],
)
def test_next_after_jumps_gaps_and_keeps_ordinary_answers(
    expression: str, timezone: str, after: str, expected: str
) -> None:
    assert Schedule(expression, timezone).next_after(_at(after)) == _at(expected)


@pytest.mark.parametrize(
    ("expression", "timezone", "instant", "expected"),
    [
        # Back across New York's gap: the hour 02:00-02:59 of 2026-03-08 does not exist
        ("* 2 * * *", NY, "2026-03-08T12:00:00+00:00", "2026-03-07T07:59:00+00:00"),
        ("30 2 * * *", NY, "2026-03-08T12:00:00+00:00", "2026-03-07T07:30:00+00:00"),
        ("*/20 * * * *", NY, "2026-03-08T07:10:00+00:00", "2026-03-08T07:00:00+00:00"),
        ("*/20 * * * *", NY, "2026-03-08T06:59:00+00:00", "2026-03-08T06:40:00+00:00"),
    ],
)
def test_latest_at_or_before_jumps_gaps_backwards(expression: str, timezone: str, instant: str, expected: str) -> None:
    assert Schedule(expression, timezone).latest_at_or_before(_at(instant)) == _at(expected)


def test_latest_at_or_before_the_first_years_never_fires_instead_of_failing() -> None:
    with pytest.raises(NeverFires):
        Schedule("0 0 2 1 *", "UTC").latest_at_or_before(_at("0001-01-01T12:00:00+00:00"))
