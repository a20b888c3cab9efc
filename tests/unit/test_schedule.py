"""Schedule.next_after, table-driven like arq's next_cron tests: the clock (``previous``) is always passed in.

Daylight saving time dates used: America/New_York springs forward on 2026-03-08 (02:00 EST -> 03:00 EDT) and falls
back on 2026-11-01 (02:00 EDT -> 01:00 EST); Europe/London on 2026-03-29 (01:00 GMT -> 02:00 BST) and 2026-10-25
(02:00 BST -> 01:00 GMT); Australia/Lord_Howe moves by 30 minutes, on 2026-10-04 (02:00 -> 02:30, +10:30 -> +11:00) and
2026-04-05 (02:00 -> 01:30, +11:00 -> +10:30).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chronohook.schedule import (
    InvalidCatchUp,
    InvalidCron,
    Schedule,
    UnknownTimeZone,
    first_due,
    resumed_due,
)

NY = "America/New_York"
LONDON = "Europe/London"
LORD_HOWE = "Australia/Lord_Howe"


def _at(text: str) -> datetime:
    """An RFC 3339 instant with an explicit offset."""
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("expression", "timezone", "previous", "expected"),
    [
        # 5 fields, UTC
        ("* * * * *", "UTC", "2026-01-01T10:00:00+00:00", "2026-01-01T10:01:00+00:00"),
        ("* * * * *", "UTC", "2026-01-01T10:00:59.999+00:00", "2026-01-01T10:01:00+00:00"),
        ("0 12 * * *", "UTC", "2026-01-01T12:00:00+00:00", "2026-01-02T12:00:00+00:00"),
        ("0 12 * * *", "UTC", "2026-01-01T11:59:59.5+00:00", "2026-01-01T12:00:00+00:00"),
        ("30 8 * * 1-5", "UTC", "2026-01-02T09:00:00+00:00", "2026-01-05T08:30:00+00:00"),  # Fri -> Mon
        ("0 0 29 2 *", "UTC", "2026-03-01T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
        ("0 0 * * 7", "UTC", "2026-01-01T00:00:00+00:00", "2026-01-04T00:00:00+00:00"),  # 7 is Sunday too
        # 6 fields: seconds first (Quartz, Spring)
        ("*/2 * * * * *", "UTC", "2026-01-01T10:00:00+00:00", "2026-01-01T10:00:02+00:00"),
        ("*/2 * * * * *", "UTC", "2026-01-01T10:00:01.999+00:00", "2026-01-01T10:00:02+00:00"),
        ("*/2 * * * * *", "UTC", "2026-01-01T10:00:02.001+00:00", "2026-01-01T10:00:04+00:00"),
        ("*/2 * * * * *", "UTC", "2026-01-01T10:59:59+00:00", "2026-01-01T11:00:00+00:00"),
        ("30 0 9 * * *", "UTC", "2026-01-01T09:00:00+00:00", "2026-01-01T09:00:30+00:00"),
        ("15 * * * * *", "UTC", "2026-01-01T09:00:15+00:00", "2026-01-01T09:01:15+00:00"),
        # America/New_York 09:00 on both sides of both transitions: 14:00 UTC in winter, 13:00 UTC in summer
        ("0 9 * * *", NY, "2026-03-07T12:00:00+00:00", "2026-03-07T14:00:00+00:00"),
        ("0 9 * * *", NY, "2026-03-07T14:00:00+00:00", "2026-03-08T13:00:00+00:00"),
        ("0 9 * * *", NY, "2026-03-08T13:00:00+00:00", "2026-03-09T13:00:00+00:00"),
        ("0 9 * * *", NY, "2026-10-31T13:00:00+00:00", "2026-11-01T14:00:00+00:00"),
        ("0 9 * * *", NY, "2026-11-01T14:00:00+00:00", "2026-11-02T14:00:00+00:00"),
        # 02:30 daily: it does not exist on the spring-forward day, skipped to the next day's
        ("30 2 * * *", NY, "2026-03-07T07:30:00+00:00", "2026-03-09T06:30:00+00:00"),
        # ... and occurs once on the fall-back day (01:00-01:59 repeats, 02:30 does not)
        ("30 2 * * *", NY, "2026-10-31T06:30:00+00:00", "2026-11-01T07:30:00+00:00"),
        # 01:30 daily occurs twice on the fall-back day: it runs once, at its first instance (EDT)
        ("30 1 * * *", NY, "2026-10-31T05:30:00+00:00", "2026-11-01T05:30:00+00:00"),
        ("30 1 * * *", NY, "2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"),
        # Asked from inside the second pass, the fold's times already ran: the next is after the fold
        ("*/30 * * * *", NY, "2026-11-01T06:15:00+00:00", "2026-11-01T07:00:00+00:00"),
        ("*/30 * * * *", NY, "2026-11-01T05:45:00+00:00", "2026-11-01T07:00:00+00:00"),
        ("*/30 * * * *", NY, "2026-11-01T05:15:00+00:00", "2026-11-01T05:30:00+00:00"),
        # Every two seconds across the fall-back: the first pass, then straight on after the fold
        ("*/2 * * * * *", NY, "2026-11-01T05:59:59+00:00", "2026-11-01T07:00:00+00:00"),
        ("*/2 * * * * *", NY, "2026-11-01T06:30:01+00:00", "2026-11-01T07:00:00+00:00"),
        # ... and across the spring-forward: 01:59:58 EST, then 03:00:00 EDT two seconds later
        ("*/2 * * * * *", NY, "2026-03-08T06:59:58+00:00", "2026-03-08T07:00:00+00:00"),
        # Europe/London: 01:30 does not exist on 2026-03-29, and occurs twice on 2026-10-25
        ("30 1 * * *", LONDON, "2026-03-28T01:30:00+00:00", "2026-03-30T00:30:00+00:00"),
        ("30 1 * * *", LONDON, "2026-10-24T00:30:00+00:00", "2026-10-25T00:30:00+00:00"),
        ("30 1 * * *", LONDON, "2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"),
        ("0 9 * * *", LONDON, "2026-03-28T09:00:00+00:00", "2026-03-29T08:00:00+00:00"),
        # Australia/Lord_Howe, a 30-minute shift: 02:15 does not exist on 2026-10-04; 01:45 occurs twice on 2026-04-05
        ("15 2 * * *", LORD_HOWE, "2026-10-02T15:45:00+00:00", "2026-10-04T15:15:00+00:00"),
        ("45 1 * * *", LORD_HOWE, "2026-04-03T14:45:00+00:00", "2026-04-04T14:45:00+00:00"),
        ("45 1 * * *", LORD_HOWE, "2026-04-04T14:45:00+00:00", "2026-04-05T15:15:00+00:00"),
        ("*/30 * * * *", LORD_HOWE, "2026-10-03T15:00:00+00:00", "2026-10-03T15:30:00+00:00"),  # 02:00 -> 03:00
        # A zone without DST
        ("0 9 * * *", "Asia/Kolkata", "2026-06-01T00:00:00+00:00", "2026-06-01T03:30:00+00:00"),
    ],
)
def test_next_after(expression: str, timezone: str, previous: str, expected: str) -> None:
    # Given a schedule and an instant
    schedule = Schedule.parse(expression, timezone)
    # When the next occurrence is asked for
    got = schedule.next_after(_at(previous))
    # Then it is the expected instant, strictly later, in UTC
    assert got == _at(expected)
    assert got.tzinfo is UTC and got > _at(previous)


@pytest.mark.parametrize(
    ("expression", "timezone", "start", "local_times"),
    [
        # Day by day across both New York transitions: the gap's 02:30 is skipped, the fold's 01:30 runs once
        ("30 2 * * *", NY, "2026-03-06T12:00:00+00:00", ["03-07 02:30", "03-09 02:30", "03-10 02:30"]),
        ("30 1 * * *", NY, "2026-10-30T12:00:00+00:00", ["10-31 01:30", "11-01 01:30", "11-02 01:30"]),
        # Every 30 minutes through the fold: one run per local time, so the second pass has none
        (
            "*/30 * * * *",
            NY,
            "2026-11-01T04:15:00+00:00",
            ["11-01 00:30", "11-01 01:00", "11-01 01:30", "11-01 02:00", "11-01 02:30"],
        ),
        # ... and through the gap: 02:00 and 02:30 do not exist
        ("*/30 * * * *", NY, "2026-03-08T05:45:00+00:00", ["03-08 01:00", "03-08 01:30", "03-08 03:00"]),
    ],
)
def test_successive_occurrences_across_dst(expression: str, timezone: str, start: str, local_times: list[str]) -> None:
    # Given a schedule in a DST zone
    schedule = Schedule.parse(expression, timezone)
    tz = ZoneInfo(timezone)
    # When occurrences are taken one after another
    at = _at(start)
    seen = []
    for _ in local_times:
        at = schedule.next_after(at)
        seen.append(at.astimezone(tz).strftime("%m-%d %H:%M"))
    # Then they are the local times expected, none twice
    assert seen == local_times


@pytest.mark.parametrize(
    ("expression", "timezone", "instant", "expected"),
    [
        ("*/2 * * * * *", "UTC", "2026-01-01T10:00:03+00:00", "2026-01-01T10:00:02+00:00"),
        ("*/2 * * * * *", "UTC", "2026-01-01T10:00:02+00:00", "2026-01-01T10:00:02+00:00"),  # at: included
        ("0 9 * * *", NY, "2026-03-08T12:00:00+00:00", "2026-03-07T14:00:00+00:00"),
        ("30 2 * * *", NY, "2026-03-08T12:00:00+00:00", "2026-03-07T07:30:00+00:00"),  # the gap's is skipped
        # From the fold's second pass: the latest is the first pass's last, not an hour-old wall time
        ("*/30 * * * *", NY, "2026-11-01T06:15:00+00:00", "2026-11-01T05:30:00+00:00"),
    ],
)
def test_latest_at_or_before(expression: str, timezone: str, instant: str, expected: str) -> None:
    # Given a schedule, When the latest occurrence at or before an instant is asked for, Then it is the expected one
    assert Schedule.parse(expression, timezone).latest_at_or_before(_at(instant)) == _at(expected)


def test_count_between_counts_both_ends_up_to_a_cap() -> None:
    # Given an every-two-seconds schedule
    schedule = Schedule.parse("*/2 * * * * *")
    first, last = _at("2026-01-01T10:00:00+00:00"), _at("2026-01-01T10:01:00+00:00")
    # Then the minute from :00 to :00 holds 31 occurrences, and a cap stops the count
    assert schedule.count_between(first, last, cap=1000) == 31
    assert schedule.count_between(first, last, cap=10) == 10


@pytest.mark.parametrize(
    ("expression", "timezone", "catch_up", "error", "words"),
    [
        ("* * * *", "UTC", "latest", InvalidCron, "5 fields"),
        ("* * * * * * *", "UTC", "latest", InvalidCron, "5 fields"),
        ("61 * * * *", "UTC", "latest", InvalidCron, "not a valid"),
        ("60 * * * * *", "UTC", "latest", InvalidCron, "not a valid"),  # seconds first: 60 is no second
        ("* * * * * 60", "UTC", "latest", InvalidCron, "not a valid"),
        ("0 0 31 2 *", "UTC", "latest", InvalidCron, "never fires"),
        ("H * * * *", "UTC", "latest", InvalidCron, "hashed"),
        ("R * * * *", "UTC", "latest", InvalidCron, "random"),
        ("* * * * *", "Mars/Olympus_Mons", "latest", UnknownTimeZone, "IANA"),
        ("* * * * *", "", "latest", UnknownTimeZone, "IANA"),
        ("* * * * *", "../etc/passwd", "latest", UnknownTimeZone, "IANA"),
        ("* * * * *", "/etc/localtime", "latest", UnknownTimeZone, "IANA"),
        ("* * * * *", "UTC", "all", InvalidCatchUp, "latest, skip"),
    ],
)
def test_parse_refuses(expression: str, timezone: str, catch_up: str, error: type[Exception], words: str) -> None:
    # Given an invalid expression, zone or policy, When parsed, Then the typed error says why
    with pytest.raises(error, match=words):
        Schedule.parse(expression, timezone, catch_up)


def test_parse_normalises_spaces_and_keeps_names() -> None:
    # Given an expression with extra spaces and month/day names
    schedule = Schedule.parse("  0  9 * JAN  MON-FRI ", NY, "skip")
    # Then it is kept with single spaces, the zone and the policy
    assert (schedule.expression, schedule.timezone, schedule.catch_up) == ("0 9 * JAN MON-FRI", NY, "skip")
    assert not schedule.seconds and Schedule.parse("0 0 9 * * *").seconds


def test_first_due_and_resumed_due() -> None:
    schedule = Schedule.parse("0 9 * * *", NY)
    at = _at("2026-06-01T12:00:00+00:00")
    # A schedule wins over run_at; a one-off runs at run_at, or now
    assert first_due(schedule, at + timedelta(days=3), at) == _at("2026-06-01T13:00:00+00:00")
    assert first_due(None, at + timedelta(days=3), at) == at + timedelta(days=3)
    assert first_due(None, None, at) == at
    # Resuming keeps an occurrence still ahead, and skips those missed while paused
    ahead = _at("2026-06-02T13:00:00+00:00")
    assert resumed_due(schedule, ahead, at) == ahead
    assert resumed_due(schedule, _at("2026-05-01T13:00:00+00:00"), at) == _at("2026-06-01T13:00:00+00:00")
