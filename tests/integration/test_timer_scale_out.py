"""Timer scale-out (issue 10, item 7): two timer processes on one broker; one joins, is killed, comes back.

``run_scale_out`` (``bench/faults/scale_out.py``, also ``python -m bench.faults --scale-out``) runs its own broker:
the timers' consumer group id is the same for every stack on a broker, so its rebalances would also stop the
session stack's timer. ~35 s (stack up ~13 s, the moves ~20 s): the killed member's partitions move only when its
10 s session times out.
"""

from __future__ import annotations

import pytest

from bench.faults.scale_out import ScaleOutReport, run_scale_out

ALL = [0, 1, 2]


@pytest.fixture(scope="module")
def scale_out(tmp_path_factory: pytest.TempPathFactory) -> ScaleOutReport:
    """One run; ``run_scale_out`` stops every process it started (receiver, load, broker, services, timer-2)."""
    return run_scale_out(tmp_path_factory.mktemp("scale-out"))


@pytest.mark.timeout(300)
def test_partitions_move_between_two_timers_as_one_joins_dies_and_rejoins(scale_out: ScaleOutReport) -> None:
    # Given one timer, and 1,500 jobs falling due over 9 s
    # When a second timer process joins, is killed with SIGKILL, and is started again
    moves = {m.what: m for m in scale_out.moves}
    assert list(moves) == ["join timer-2", "kill -9 timer-2", "rejoin timer-2"]
    # Then the partitions are split between the two after the join and after the rejoin
    for what in ("join timer-2", "rejoin timer-2"):
        shown = moves[what].assignment
        assert moves[what].settled_s is not None, f"{what}: never split, last seen {shown}"
        assert shown["timer"] and shown["timer-2"] and sorted(shown["timer"] + shown["timer-2"]) == ALL
    # And the killed timer's partitions go to the other when its session times out (10 s, static membership)
    assert moves["kill -9 timer-2"].assignment == {"timer": ALL}
    killed = moves["kill -9 timer-2"].settled_s
    assert killed is not None and killed <= 15.0, f"moved after {killed} s"


@pytest.mark.timeout(300)
def test_no_job_is_lost_and_none_is_fired_twice_across_the_rebalances(scale_out: ScaleOutReport) -> None:
    # Given the same run
    report = scale_out
    # Then every job reaches its URL
    assert report.lost_seqs == [], f"never delivered: {report.lost_seqs[:20]}; logs in {report.workdir}/logs"
    # And the log read committed holds exactly one JobDue per occurrence, one for each job
    due = report.once.due
    assert due.error == "", due.error
    assert due.repeated == {} and due.jobs_without_due == 0 and due.jobs == report.jobs
    # And every repeated delivery (none expected: the executor was not killed) carries its job's webhook-id
    assert report.once.webhook.consistent
    print(
        f"scale-out: {report.jobs} jobs, {due.aborted_copies} aborted JobDue copies, {report.duplicates} repeated "
        f"deliveries, max lateness {report.max_lateness_s:.1f} s ({report.late_jobs} jobs 1 s late or more), "
        f"moves {[(m.what, m.settled_s) for m in report.moves]}, {report.seconds:.0f} s"
    )


@pytest.mark.timeout(300)
def test_a_job_deleted_before_the_rebalance_is_never_fired(scale_out: ScaleOutReport) -> None:
    # Given 30 QuedUp jobs created and deleted before the second timer joined (its partition rebuilt from a changelog
    # where each is a put and then a tombstone), due before the rejoin
    assert scale_out.deleted == 30
    print(f"deleted jobs: {scale_out.deleted_fired} JobDue committed, {scale_out.deleted_delivered} delivered")
    # Then no JobDue is ever committed for any of them, and none reaches its URL
    assert scale_out.deleted_fired == 0, f"{scale_out.deleted_fired} of {scale_out.deleted} deleted jobs fired"
    assert scale_out.deleted_delivered == 0
