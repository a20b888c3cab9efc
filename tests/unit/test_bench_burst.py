"""The pure parts of ``python -m bench.burst``: the compact tally of a million arrivals, the neighbour's plan and
lateness (a job never arrived counts as infinitely late), the instant's lead, the drain rate, and the arguments.
The scenarios themselves run a whole stack and are not run here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.burst import (
    LIMIT_WORDS,
    Tally,
    command_of,
    drain_rate,
    last_error,
    late_percentile,
    lead_seconds,
    neighbour_plan,
    neighbour_window_s,
    parse,
    refusal_reason,
    result_name,
)
from bench.toolkit.expect import BenchError, expect_refusal
from bench.toolkit.jobs import Planned

T0 = 1_800_000_000_000  # ms since the epoch


def test_tally_keeps_the_first_arrival_and_counts_the_rest() -> None:
    # Given a tally of 3 jobs of tag "a"
    tally = Tally("a", 3)
    # When job 1 arrives twice, job 0 once, and paths of other tags or out of range arrive
    assert tally.add(T0 * 1_000_000 + 5_000_000, f"/b/a/1/{T0}")
    assert tally.add(T0 * 1_000_000 + 9_000_000, f"/b/a/1/{T0}")
    assert tally.add(T0 * 1_000_000 + 7_000_000, f"/b/a/0/{T0}")
    assert not tally.add(T0 * 1_000_000, f"/b/ab/2/{T0}")
    assert not tally.add(T0 * 1_000_000, f"/b/a/3/{T0}")
    assert not tally.add(T0 * 1_000_000, "/b/a/x/1")
    assert not tally.add(T0 * 1_000_000, "/warmup")
    # Then two jobs are delivered, one duplicate, one lost, and lateness is from the first arrival
    assert (tally.delivered, tally.duplicates, tally.lost) == (2, 1, 1)
    plan = [Planned(i, T0) for i in range(3)]
    assert tally.lateness_ms(plan) == [7.0, 5.0]
    assert tally.last_us == T0 * 1_000 + 7_000


def test_tally_is_compact() -> None:
    # Given a tally of a million jobs, Then it holds 8 bytes a job (the receiver copes with a million deliveries)
    tally = Tally("a", 1_000_000)
    assert tally.first_us.itemsize * len(tally.first_us) == 8_000_000


@pytest.mark.parametrize(
    ("seconds", "rate", "count", "last_offset_ms"),
    [(10, 20, 200, 9_950), (1, 20, 20, 950), (0.01, 20, 1, 0), (2, 4, 8, 1_750)],
)
def test_neighbour_plan(seconds: float, rate: float, count: int, last_offset_ms: int) -> None:
    # Given a window and a rate, Then B's jobs fall due evenly across it, numbered from 0
    plan = neighbour_plan(T0, seconds, rate)
    assert len(plan) == count
    assert [p.seq for p in plan] == list(range(count))
    assert plan[0].due_ms == T0
    assert plan[-1].due_ms == T0 + last_offset_ms


@pytest.mark.parametrize(
    ("lateness", "lost", "p", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 0, 0.5, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 0.99, 4.0),
        ([float(i) for i in range(99)], 1, 0.99, 98.0),  # 1 lost in 100: the p99 is still a time
        ([float(i) for i in range(98)], 2, 0.99, math.inf),  # 2 lost in 100: the p99 never came
        ([], 5, 0.5, math.inf),
    ],
)
def test_late_percentile_counts_the_lost_as_infinitely_late(
    lateness: list[float], lost: int, p: float, expected: float
) -> None:
    assert late_percentile(lateness, lost, p) == expected


@pytest.mark.parametrize(
    ("jobs", "rate", "expected"),
    [(1_000_000, 10_000, 310.0), (20_000, 10_000, 16.0), (100_000, 5_000, 70.0), (1_000, 1_000, 15.0)],
)
def test_lead_seconds(jobs: int, rate: float, expected: float) -> None:
    # Given the jobs to create and the rate a probe measured, Then the instant is far enough for a slower creation
    assert lead_seconds(jobs, rate) == pytest.approx(expected)


def test_lead_seconds_needs_a_rate() -> None:
    with pytest.raises(ValueError, match="positive"):
        lead_seconds(10, 0.0)


@pytest.mark.parametrize(
    ("delivered", "last_offset_ms", "expected"),
    [(3_000, 1_000, 3_000.0), (10_000, 4_000, 2_500.0), (0, 0, 0.0), (5, -100, 5_000.0)],
)
def test_drain_rate(delivered: int, last_offset_ms: int, expected: float) -> None:
    # Given deliveries and the last one's time after the instant, Then the rate is from the instant to the last
    last_us = (T0 + last_offset_ms) * 1_000 if delivered else 0
    assert drain_rate(delivered, T0, last_us) == pytest.approx(expected)


@pytest.mark.parametrize(("jobs", "seconds"), [(1_000_000, 510.0), (10_000, 20.0), (100_000, 60.0), (10**8, 900.0)])
def test_neighbour_window(jobs: int, seconds: float) -> None:
    assert neighbour_window_s(jobs) == seconds


@pytest.mark.parametrize(
    ("body", "reason"),
    [({"message": "Too many crons."}, "Too many crons."), ({"error": "x"}, "x"), ("plain", "plain")],
)
def test_refusal_reason(body: object, reason: str) -> None:
    assert refusal_reason(body) == reason


def test_a_cron_refusal_must_name_a_limit() -> None:
    # Given the cron flood's limit words, Then today's quota messages count as refusals, other 422s fail the bench
    quota = {"message": "Too many jobs created: this tenant may create 500 a second (bursts of 5000)."}
    assert expect_refusal(429, quota, LIMIT_WORDS, "POST /api/crons")
    with pytest.raises(BenchError):
        expect_refusal(422, {"message": "The cron expression field is invalid."}, LIMIT_WORDS, "POST /api/crons")


@pytest.mark.parametrize(
    ("argv", "name", "command"),
    [
        ([], "burst-1000000", "python -m bench.burst --jobs 1000000"),
        (["--jobs", "100000"], "burst", "python -m bench.burst --jobs 100000"),
        (["--quick"], "burst", "python -m bench.burst --quick"),
        (["--scenario", "blackhole"], "burst-blackhole", "python -m bench.burst --scenario blackhole"),
        (
            ["--scenario", "cron-flood", "--quick"],
            "burst-cron-flood",
            "python -m bench.burst --scenario cron-flood --quick",
        ),
    ],
)
def test_arguments(argv: list[str], name: str, command: str) -> None:
    args = parse(argv)
    assert result_name(args) == name
    assert command_of(args) == command


def test_quick_is_small() -> None:
    args = parse(["--quick"])
    assert (args.jobs, args.seconds, args.crons) == (5_000, 10.0, 300)


@pytest.mark.parametrize("argv", [["--jobs", "0"], ["--seconds", "0"], ["--crons", "1000000"], ["--lead-s", "-1"]])
def test_arguments_are_bounded(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(argv)


@pytest.mark.parametrize(
    "message",
    [
        "Too many active crons: this tenant may have 1000.",
        "The cron asks for 1 occurrence a second; this tenant's schedule rate is capped at 100.",
        "Over CHRONOHOOK_TENANT_MAX_CRONS (1000).",
        "The tenant's quota of schedules is exceeded.",
    ],
)
def test_refusals_that_name_a_limit(message: str) -> None:
    # Given the wordings a cap on crons may use, Then each is an expected refusal
    assert expect_refusal(422, {"message": message}, LIMIT_WORDS, "POST /api/crons")
    assert expect_refusal(429, {"message": message}, LIMIT_WORDS, "POST /api/crons")


def test_the_egress_refusal_is_no_limit() -> None:
    # Given the egress guard's 422 (the bench's own mistake, not a cap), Then it fails the bench
    message = (
        "The url field is refused by the egress policy: 127.0.0.1 is loopback "
        "(set CHRONOHOOK_EGRESS_ALLOW to allow it)."
    )
    with pytest.raises(BenchError):
        expect_refusal(422, {"message": message}, LIMIT_WORDS, "POST /api/crons")


def test_last_error_names_what_a_service_died_of(tmp_path: Path) -> None:
    # Given a service log ending in a traceback, Then the last line naming an error is what a restart is reported with
    log = tmp_path / "timer.log"
    log.write_text("started\nTraceback (most recent call last):\n  File x\nBufferError: Local: Queue full\nbye\n")
    assert last_error(log) == "BufferError: Local: Queue full"
    (tmp_path / "quiet.log").write_text("all fine\n")
    assert last_error(tmp_path / "quiet.log") == ""
    assert last_error(tmp_path / "absent.log") == ""
