"""The benches' status checks (bench/toolkit/expect.py): a bench whose answers are not the ones it expects raises
``BenchError`` and prints no figure, rather than timing errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bench.toolkit.expect import (
    RETRIED,
    BenchError,
    expect_count,
    expect_load,
    expect_refusal,
    expect_status,
    guarded,
)


@dataclass
class Load:
    """The part of a ``LoadResult`` the checks read."""

    statuses: dict[int, int]
    expect: int = 201
    first_error: str = ""
    accepted: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.accepted = list(range(self.statuses.get(self.expect, 0)))

    @property
    def ok(self) -> int:
        return len(self.accepted)


@pytest.mark.parametrize(
    ("status", "wanted", "raises"),
    [
        (201, 201, False),
        (200, (200, 201), False),
        (422, 201, True),
        (500, (200, 201), True),
        (-1, 200, True),
    ],
)
def test_expect_status(status: int, wanted: int | tuple[int, ...], raises: bool) -> None:
    # Given an answer, When it is checked against the status expected, Then only a match passes
    if raises:
        with pytest.raises(BenchError, match=f"answered {status}"):
            expect_status(status, wanted, "POST /api/jobs", {"message": "no"})
    else:
        expect_status(status, wanted, "POST /api/jobs")


@pytest.mark.parametrize(
    ("statuses", "kwargs", "error"),
    [
        ({201: 10}, {}, None),
        ({201: 10}, {"total": 10}, None),
        ({201: 9}, {"total": 10}, "9 of 10"),
        # The void ingest ceiling on main: every create a 422, and 0 printed as the ceiling.
        ({422: 5_000}, {}, "unexpected answers"),
        ({201: 9, 422: 1}, {}, "unexpected answers"),
        ({201: 9, 503: 1}, {}, "unexpected answers"),
        ({201: 9, 503: 1, -1: 2}, {"tolerate": RETRIED}, None),
        ({201: 9, 429: 1}, {"tolerate": RETRIED}, "unexpected answers"),
        ({}, {}, "no answer was 201"),
        ({200: 3}, {"expect": 200}, None),
    ],
)
def test_expect_load(statuses: dict[int, int], kwargs: dict[str, object], error: str | None) -> None:
    # Given a load's answers, When they are checked, Then any status but the expected one (or a tolerated one) fails
    load = Load(statuses, expect=int(str(kwargs.get("expect", 201))))
    if error is None:
        expect_load(load, "load", **kwargs)  # type: ignore[arg-type]
    else:
        with pytest.raises(BenchError, match=error):
            expect_load(load, "load", **kwargs)  # type: ignore[arg-type]


def test_expect_count() -> None:
    # Given the requests a client had answered and those the receiver recorded, Then they must be equal
    expect_count(5, 5, "recorded")
    with pytest.raises(BenchError, match="4, expected 5"):
        expect_count(4, 5, "recorded")


LIMITS = ("too many", "limit")


@pytest.mark.parametrize(
    ("status", "body", "refused", "raises"),
    [
        (201, {"id": 1}, False, False),
        (429, {"message": "Too many crons: this tenant may have 1000 active schedules."}, True, False),
        (422, {"message": "The schedule is over the tenant's schedule rate limit."}, True, False),
        (422, {"message": "The url field is refused: loopback."}, False, True),  # not a limit: the bench's error
        (500, {"message": "Server Error"}, False, True),
        (503, {"message": "too many"}, False, True),
    ],
)
def test_expect_refusal(status: int, body: object, refused: bool, raises: bool) -> None:
    # Given a create the product may refuse past a documented cap, Then a refusal naming a limit is counted, and
    # any other answer but 201 fails the bench
    if raises:
        with pytest.raises(BenchError):
            expect_refusal(status, body, LIMITS, "POST /api/crons")
    else:
        assert expect_refusal(status, body, LIMITS, "POST /api/crons") is refused


def test_guarded_turns_a_bench_error_into_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a bench body that meets an unexpected answer
    def body() -> int:
        raise BenchError("POST /api/jobs: answered 422")

    # When it runs guarded, Then it exits 2 with the reason on stderr and nothing on stdout (no figure)
    assert guarded(body) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "answered 422" in out.err
    assert guarded(lambda: 0) == 0
