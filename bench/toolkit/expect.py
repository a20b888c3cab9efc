"""Benches that cannot measure errors: every answer a bench relies on is checked against the status it expects.

A bench whose creates were refused (a 422 from the egress guard, a 429 from a quota) would otherwise time how
fast the product says no, and print that as a figure. Each check below raises ``BenchError`` instead; ``guarded``
turns it into a non-zero exit with the reason on stderr, before any figure is printed or saved.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Mapping
from typing import Protocol

# What the load generator retries when asked to (bench/toolkit/load.py): a connection error and the gateway codes.
RETRIED = frozenset({-1, 502, 503, 504})


class BenchError(RuntimeError):
    """An answer the bench did not expect: its figures would measure errors, so none is printed."""


class Answered(Protocol):
    """What ``expect_load`` reads of a load's result (bench/toolkit/load.py's ``LoadResult``)."""

    @property
    def ok(self) -> int: ...

    statuses: dict[int, int]
    first_error: str


def _statuses(wanted: int | Collection[int]) -> frozenset[int]:
    return frozenset({wanted} if isinstance(wanted, int) else wanted)


def expect_status(status: int, wanted: int | Collection[int], what: str, body: object = None) -> None:
    """Raise unless ``status`` is ``wanted`` (one status or several)."""
    allowed = _statuses(wanted)
    if status not in allowed:
        shown = " or ".join(str(s) for s in sorted(allowed))
        raise BenchError(f"{what}: answered {status}, expected {shown}: {str(body)[:300]}")


def expect_load(
    result: Answered,
    what: str,
    *,
    expect: int = 201,
    total: int | None = None,
    tolerate: Collection[int] = (),
) -> None:
    """Raise unless every answer of a load was ``expect`` (or one of ``tolerate``, e.g. ``RETRIED`` for a load sent
    with ``retry=True`` while services restart), at least one was, and, given ``total``, all ``total`` were."""
    allowed = {expect, *tolerate}
    unexpected = {status: n for status, n in result.statuses.items() if status not in allowed}
    if unexpected:
        raise BenchError(f"{what}: unexpected answers {unexpected} (expected {expect}): {result.first_error}")
    if result.ok == 0:
        raise BenchError(f"{what}: no answer was {expect} (answers {result.statuses}): {result.first_error}")
    if total is not None and result.ok != total:
        raise BenchError(
            f"{what}: {result.ok} of {total} answered {expect} (answers {result.statuses}): {result.first_error}"
        )


def expect_count(got: int, wanted: int, what: str) -> None:
    """Raise unless ``got == wanted``: e.g. every request the raw client sent was recorded by the receiver."""
    if got != wanted:
        raise BenchError(f"{what}: {got}, expected {wanted}")


def expect_refusal(status: int, body: object, limits: Collection[str], what: str) -> bool:
    """True for an expected refusal (422 or 429 whose body names one of ``limits``), False for a 201; else raise.

    A product may refuse work past a documented cap: that is an answer the bench counts, not an error. Any other
    status, or a refusal that names no limit, is.
    """
    if status == 201:
        return False
    text = str(body).lower()
    if status in (422, 429) and any(limit.lower() in text for limit in limits):
        return True
    raise BenchError(f"{what}: answered {status}, expected 201 or a 422/429 naming a limit: {str(body)[:300]}")


def guarded(main: Callable[[], int]) -> int:
    """Run a bench's body; a ``BenchError`` becomes exit status 2 and one line on stderr (no figure)."""
    try:
        return main()
    except BenchError as exc:
        print(f"bench failed, no figure printed: {exc}", file=sys.stderr)
        return 2


def statuses_text(statuses: Mapping[int, int]) -> str:
    return ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items()))
