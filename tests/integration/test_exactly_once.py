"""Exactly-once ``JobDue`` across kill -9 of the timer and the executor (issue 10, item 3), on the real broker.

It reads the short fault run (``short_fault_run`` in ``conftest.py``, shared with ``test_faults.py``): beside the
steady load, 3,000 jobs created ahead in batches fall due evenly over ~26 s, while the timer is killed with SIGKILL,
10 s later the executor, 10 s later the timer again. After the run the whole job-events topic is read twice, with
``read_committed`` (what every consumer sees) and ``read_uncommitted`` (aborted transactions' records too).
Definitions are in ``bench/faults/once.py``.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.faults import FaultReport
from bench.faults.once import due_tally, webhook_check


@pytest.mark.timeout(420)
def test_no_job_is_lost_when_the_timer_is_killed_twice_and_the_executor_once(short_fault_run: FaultReport) -> None:
    # Given 3,000 jobs due over ~26 s beside a steady load
    once = short_fault_run.once
    assert once is not None
    assert once.burst == 3000
    # When the timer, the executor and the timer again are killed with SIGKILL 10 s apart while they fall due
    kills = [f.what for f in short_fault_run.faults[:3]]
    assert kills == ["kill -9 timer", "kill -9 executor", "kill -9 timer"]
    # Then every one of them reaches its URL, as does every job of the steady load
    assert once.burst_lost == [], f"burst jobs never delivered: {once.burst_lost[:20]}"
    assert short_fault_run.lost == 0, f"steady-load jobs never delivered: {short_fault_run.lost_seqs[:20]}"


@pytest.mark.timeout(420)
def test_job_due_is_committed_once_per_occurrence(short_fault_run: FaultReport) -> None:
    # Given the same run, its jobs known from their JobPushed records
    assert short_fault_run.once is not None
    due = short_fault_run.once.due
    assert due.error == "", due.error
    assert due.jobs >= 3000 + short_fault_run.accepted
    # Then the log read committed holds exactly one JobDue per run id (job, occurrence, attempt), and one for every job
    assert due.repeated == {}, f"run ids with more than one committed JobDue: {list(due.repeated.items())[:10]}"
    assert due.jobs_without_due == 0
    assert due.occurrences == due.committed >= due.jobs
    # And a reader of uncommitted data sees at least as many: the killed timers' aborted copies (a figure, not a
    # bound: how many depends on what each kill cut short)
    assert due.uncommitted >= due.committed
    print(f"JobDue: {due.committed} committed for {due.occurrences} occurrences; {due.aborted_copies} aborted copies")


@pytest.mark.timeout(420)
def test_a_repeated_delivery_carries_the_first_deliverys_webhook_id(short_fault_run: FaultReport) -> None:
    # Given the same run, every delivery of its jobs with the webhook-id header the receiver recorded
    assert short_fault_run.once is not None
    hook = short_fault_run.once.webhook
    # Then every delivery of one job carried one webhook-id, that of a job created for its URL; the deliveries of an
    # occurrence beyond its first (an executor killed mid-request sends it again) are counted
    assert hook.foreign == [], f"deliveries with a webhook-id of no job created for the URL: {hook.foreign[:10]}"
    assert hook.jobs_with_two_ids == []
    assert hook.deliveries == hook.occurrences + hook.repeated_deliveries
    per_10k = 10_000 * hook.repeated_deliveries / hook.occurrences
    print(f"repeated deliveries: {hook.repeated_deliveries} of {hook.occurrences} occurrences ({per_10k:.1f} per 10k)")


def test_the_tally_counts_job_due_per_run_id_and_the_aborted_copies() -> None:
    # Given two jobs: one fired once, one fired in a transaction that was aborted and then again
    committed = Counter({"1:1000:1": 1, "2:1000:1": 1})
    uncommitted = Counter({"1:1000:1": 1, "2:1000:1": 2})
    # When they are tallied with a third job that never fired
    tally = due_tally({"1", "2", "3"}, committed, uncommitted)
    # Then one aborted copy is counted, the unfired job is missing, and nothing is repeated
    assert (tally.aborted_copies, tally.jobs_without_due, tally.repeated, tally.once) == (1, 1, {}, False)
    # And a run id committed twice is a repeat
    assert due_tally({"1"}, Counter({"1:1000:1": 2}), Counter({"1:1000:1": 2})).repeated == {"1:1000:1": 2}


def test_the_webhook_check_tells_a_redelivery_from_a_second_job() -> None:
    # Given a URL created twice (jobs 7 and 8: the client resent the body) and delivered three times
    jobs_of_path = {"/b/t/0/5": ["7", "8"]}
    arrivals = [("/b/t/0/5", "7:5"), ("/b/t/0/5", "7:5"), ("/b/t/0/5", "8:5")]
    # When checked
    check = webhook_check(arrivals, jobs_of_path)
    # Then one delivery repeated an occurrence, and every id belongs to a job of that URL
    assert (check.repeated_deliveries, check.occurrences, check.consistent) == (1, 2, True)
    # And a delivery with another job's id, or a job delivered under two ids, is not consistent
    assert webhook_check([("/b/t/0/5", "9:5")], jobs_of_path).foreign == [("/b/t/0/5", "9:5")]
    assert webhook_check([("/b/t/0/5", "7:5"), ("/b/t/0/5", "7:6")], jobs_of_path).jobs_with_two_ids == ["7"]
