"""The admission policy (services/executor/admission.py), table-driven: no loop, no clock, no I/O.

Each case plays a script against a fresh policy, draining ``admit`` after every step as the executor's shell does,
and checks the order in which parked attempts were admitted. A step is one of:

* ``"A:x:a1"``  tenant A parks attempt a1 for host x;
* ``"!A:x:c1"`` the same, urgent (a callback or an alert);
* ``"-a1"``     a1 (admitted earlier) finished;
* ``"~a1"``     a1 (still parked) was withdrawn by its waiter.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest

from services.executor.admission import Admission, Backlog, Limits, default_reserve


@dataclass
class Played:
    admitted: list[str]
    policy: Admission[str]
    where: dict[str, tuple[str, str]]

    def held(self, tenant: str) -> int:
        return self.policy.held(tenant)


def play(limits: Limits, script: list[str]) -> Played:
    policy: Admission[str] = Admission(limits)
    admitted: list[str] = []
    where: dict[str, tuple[str, str]] = {}
    urgent: set[str] = set()
    for step in script:
        if step.startswith("-"):
            tenant, host = where.pop(step[1:])
            policy.finish(tenant, host)
        elif step.startswith("~"):
            name = step[1:]
            tenant, host = where[name]
            assert policy.withdraw(name, tenant, host, name in urgent)
        else:
            tenant, host, name = step.lstrip("!").split(":")
            if step.startswith("!"):
                urgent.add(name)
            policy.park(name, tenant, host, urgent=name in urgent)
            where[name] = (tenant, host)
        while (got := policy.admit()) is not None:
            assert where[got.item] == (got.tenant, got.host)
            admitted.append(got.item)
    return Played(admitted, policy, where)


def spread(tenant: str, n: int, hosts: int, prefix: str = "") -> list[str]:
    """n attempts of one tenant, spread round the given number of hosts."""
    return [f"{tenant}:h{i % hosts}:{prefix or tenant.lower()}{i}" for i in range(n)]


def limits(total: int, per_host: int = 100, reserve: int = 0, light: int = 1) -> Limits:
    return Limits.of(total, per_host, reserve, light)


CASES: list[tuple[str, Limits, list[str], list[str]]] = [
    # -- fairness between tenants ---------------------------------------------------------------------------------
    (
        "one slot: freed capacity goes round robin to the tenants with parked attempts, not A's backlog first",
        limits(1),
        ["A:a:a1", "A:a:a2", "A:a:a3", "A:a:a4", "B:b:b1", "B:b:b2", "C:c:c1", "-a1", "-a2", "-b1", "-c1", "-a3"],
        ["a1", "a2", "b1", "c1", "a3", "b2"],
    ),
    (
        "a tenant over its share waits while another under it has parked attempts; equal shares then alternate",
        limits(4),
        [*spread("A", 8, 8), "B:b:b1", "B:b:b2", "B:b:b3", "-a0", "-a1", "-a2", "-b1", "-a3"],
        ["a0", "a1", "a2", "a3", "b1", "b2", "a4", "b3", "a5"],
    ),
    # -- hosts ----------------------------------------------------------------------------------------------------
    (
        "at most per_host to one host; an attempt for a host at its cap never blocks one for another host",
        limits(10, per_host=2),
        ["A:x:x1", "A:x:x2", "A:x:x3", "A:x:x4", "A:y:y1", "-x1", "-x2"],
        ["x1", "x2", "y1", "x3", "x4"],
    ),
    (
        "within a tenant its hosts take turns",
        limits(1),
        ["A:x:x1", "A:x:x2", "A:x:x3", "A:y:y1", "A:y:y2", "-x1", "-x2", "-y1", "-x3"],
        ["x1", "x2", "y1", "x3", "y2"],
    ),
    (
        "the host cap is each tenant's: A's hung x does not hold B's attempts to x",
        limits(10, per_host=1),
        ["A:x:a1", "A:x:a2", "B:x:b1", "-a1"],
        ["a1", "b1", "a2"],
    ),
    (
        "a host takes HOST_TENANTS tenants' caps at once: the fifth tenant waits for x",
        limits(10, per_host=1),
        ["A:x:a1", "B:x:b1", "C:x:c1", "D:x:d1", "E:x:e1", "E:y:e2", "-a1"],
        ["a1", "b1", "c1", "d1", "e2", "e1"],
    ),
    # -- work conservation ----------------------------------------------------------------------------------------
    (
        "a tenant alone uses the whole capacity (30 hosts x 32 would allow 960: the total bounds it)",
        limits(256, per_host=32, reserve=32, light=8),
        spread("A", 300, 30),
        [f"a{i}" for i in range(256)],
    ),
    (
        "capacity nobody under their share can use goes to a tenant over it (B's only host is at its cap)",
        limits(8, per_host=2),
        ["B:b:b1", "B:b:b2", "B:b:b3", *spread("A", 8, 8)],
        ["b1", "b2", "a0", "a1", "a2", "a3", "a4", "a5"],
    ),
    # -- the reserve ----------------------------------------------------------------------------------------------
    (
        "with the capacity full, a light newcomer starts from the reserve at once; a heavy tenant never does",
        limits(8, reserve=2, light=1),
        [*spread("A", 10, 10), "B:b:b1", "B:b:b2", "C:c:c1", "D:d:d1"],
        [*(f"a{i}" for i in range(8)), "b1", "c1"],
    ),
    # -- a host that never answers --------------------------------------------------------------------------------
    (
        "C's 3,000 attempts to a host that never answers hold that host's slots; B's all start at once",
        limits(256, per_host=32, reserve=32, light=8),
        [*(f"C:hung:c{i}" for i in range(3_000)), *(f"B:b{i % 10}:b{i}" for i in range(300)), "-b0", "-b1"],
        [*(f"c{i}" for i in range(32)), *(f"b{i}" for i in range(224)), "b224", "b225"],
    ),
    # -- urgent first ---------------------------------------------------------------------------------------------
    (
        "callbacks and alerts are admitted before any tenant's attempts",
        limits(1),
        ["A:a:a1", "A:a:a2", "B:b:b1", "!C:c:cb1", "!A:a:cb2", "-a1", "-cb1", "-cb2"],
        ["a1", "cb1", "cb2", "a2"],
    ),
    (
        "an urgent attempt for a host at its cap does not block the attempts behind it",
        limits(4, per_host=1),
        ["B:x:a1", "!B:x:cb1", "B:y:b1", "-a1"],
        ["a1", "b1", "cb1"],
    ),
    # -- withdrawal -----------------------------------------------------------------------------------------------
    (
        "a withdrawn attempt is never admitted",
        limits(1),
        ["A:a:a1", "A:a:a2", "B:b:b1", "~a2", "-a1", "-b1"],
        ["a1", "b1"],
    ),
]


@pytest.mark.parametrize(("case", "lim", "script", "expected"), CASES, ids=[c[0] for c in CASES])
def test_admission_order(case: str, lim: Limits, script: list[str], expected: list[str]) -> None:
    # Given the limits, When the script is played, Then attempts were admitted in the expected order
    played = play(lim, script)
    assert played.admitted == expected, case


def test_counts_follow_admissions_and_nothing_is_left_behind() -> None:
    # Given the hung-host case
    played = play(
        limits(256, per_host=32, reserve=32, light=8),
        [*(f"C:hung:c{i}" for i in range(3_000)), *(f"B:b{i % 10}:b{i}" for i in range(300))],
    )
    policy = played.policy
    # Then C holds only its host's cap, B its share and more (nobody else could use it), the rest is parked
    assert policy.held("C") == 32 and policy.on_host("hung") == 32
    assert policy.held("B") == 224 and policy.running == 256
    assert policy.parked == 3_000 - 32 + 300 - 224 and policy.parked_for("C") == 2_968
    # When every admitted attempt finishes in turn (as C's would at their timeout)
    running = deque(played.admitted)
    while running:
        tenant, host = played.where[running.popleft()]
        policy.finish(tenant, host)
        while (got := policy.admit()) is not None:
            played.admitted.append(got.item)
            running.append(got.item)
    # Then every attempt was admitted once, and nothing is left behind
    assert len(played.admitted) == len(set(played.admitted)) == 3_300
    assert policy.idle()


def test_a_drained_policy_is_idle() -> None:
    # Given attempts of two tenants, urgent and not, all admitted and finished, one withdrawn
    played = play(limits(2, per_host=1), ["A:x:a1", "!B:y:b1", "A:x:a2", "~a2", "-a1", "-b1"])
    # Then no tenant, host or count is left
    assert played.admitted == ["a1", "b1"]
    assert played.policy.idle()


def test_withdrawing_what_is_not_parked_is_refused() -> None:
    # Given an attempt already admitted
    policy: Admission[str] = Admission(limits(1))
    policy.park("a1", "A", "x")
    assert policy.admit() is not None
    # Then it cannot be withdrawn, nor can an unknown one
    assert not policy.withdraw("a1", "A", "x")
    assert not policy.withdraw("zz", "Z", "z")


@pytest.mark.parametrize(
    ("total", "reserve", "light"),
    [(256, 32, 8), (16, 2, 1), (1, 1, 1), (2, 1, 1), (4096, 512, 128)],
)
def test_default_reserve_and_light(total: int, reserve: int, light: int) -> None:
    # Given a capacity; Then the reserve beyond it is an eighth (at least one), a light tenant under a quarter of it
    assert default_reserve(total) == reserve
    assert Limits.of(total, 32).light == light


@pytest.mark.parametrize(
    ("args", "ok"),
    [((1, 1, 0, 1), True), ((0, 1, 0, 1), False), ((1, 0, 0, 1), False), ((1, 1, -1, 1), False), ((1, 1, 0, 0), False)],
)
def test_limits_are_checked(args: tuple[int, int, int, int], ok: bool) -> None:
    # Given limits; Then nonsense is refused
    if ok:
        Limits.of(*args)
    else:
        with pytest.raises(ValueError, match="at least"):
            Limits.of(*args)


@pytest.mark.parametrize(
    ("adds", "removes", "full"),
    [
        ([10] * 3, 0, True),  # the count bound (3)
        ([10] * 2, 0, False),
        ([600, 500], 0, True),  # the bytes bound (1,000)
        ([600, 500], 1, False),
    ],
)
def test_the_backlog_is_full_past_either_bound(adds: list[int], removes: int, full: bool) -> None:
    # Given a backlog of at most 3 records or 1,000 bytes
    backlog = Backlog(3, 1_000)
    for size in adds:
        backlog.add(size)
    for size in adds[:removes]:
        backlog.remove(size)
    # Then it is full past either bound, and not below both
    assert backlog.full() is full


@pytest.mark.parametrize(
    ("lim", "script", "tenant", "host"),
    [
        (limits(4, per_host=2), [], "A", "x"),
        (limits(4, per_host=2), ["A:x:a1", "A:x:a2"], "A", "x"),  # its host at its cap
        (limits(4, per_host=2), ["A:x:a1", "A:y:a2", "A:z:a3", "A:w:a4"], "A", "v"),  # the capacity full
        (limits(4, per_host=2, reserve=2, light=1), [*spread("A", 4, 4)], "B", "b"),  # a light newcomer
        (limits(4, per_host=2, reserve=2, light=1), [*spread("A", 4, 4), "B:b:b1"], "B", "c"),  # no longer light
        (limits(4, per_host=2, reserve=1, light=1), [*spread("A", 4, 4), "B:b:b1"], "C", "c"),  # the reserve used
        (limits(1), ["A:x:a1", "B:y:b1"], "C", "z"),  # something parked: it goes first
        (limits(4, per_host=1), ["A:x:a1", "A:x:a2"], "B", "y"),  # something parked: park, though it would start
    ],
)
def test_starting_at_once_is_what_parking_and_admitting_would_do(
    lim: Limits, script: list[str], tenant: str, host: str
) -> None:
    # Given a policy in some state
    now, parked = play(lim, script), play(lim, script)
    # When an attempt asks to start at once, and the same attempt is parked in a copy of that state
    started = now.policy.start_now(tenant, host)
    parked.policy.park("new", tenant, host)
    got = parked.policy.admit()
    # Then, with nothing parked, it starts at once exactly when it would have been admitted, counted the same;
    # with something parked it is parked (and admitted from there, maybe at once)
    admitted = got is not None and got.item == "new"
    if now.policy.parked:
        assert not started
    else:
        assert started is admitted
        assert (now.policy.running, now.policy.held(tenant)) == (parked.policy.running, parked.policy.held(tenant))
