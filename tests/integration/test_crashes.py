"""kill -9 of a service loses no job: the timer's state, the executor's work and the projector's rows survive."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter

from tests.conftest import Stack
from tests.support.polling import eventually
from tests.support.receiver import Receiver

JOBS = 20


def _push(stack: Stack, receiver: Receiver, prefix: str, delay: int) -> list[int]:
    with stack.client() as c:
        ids = []
        for i in range(JOBS):
            r = c.post("/api/jobs", json={"queue": prefix, "url": receiver.url(f"/{prefix}/{i}"), "delay": delay})
            assert r.status_code == 201, r.text
            ids.append(r.json()["job_id"])
    return ids


def _kill_and_wait_restart(stack: Stack, name: str) -> None:
    old_pid = stack.supervisor.kill(name)
    eventually(
        lambda: (p := stack.supervisor.children[name].process) is not None and p.pid != old_pid and p.poll() is None,
        what=f"{name} restarted",
    )


def _all_completed_once(stack: Stack, ids: list[int]) -> None:
    with stack.client() as c:
        for job_id in ids:
            url = f"/api/jobs/{job_id}"
            job = eventually(lambda u=url: (j := c.get(u).json())["status"] == "completed" and j, what=url)  # type: ignore[misc]
            assert len(job["runs"]) == 1, f"{url} has {len(job['runs'])} runs recorded"


def _restores(stack: Stack) -> list[tuple[str, int]]:
    """Each restore the timer logged: delta or rebuild, and how many changelog records it read."""
    text = (stack.data_dir / "logs" / "timer.log").read_text(errors="replace")
    return [(mode, int(n)) for mode, n in re.findall(r"restored partition \d+ by (\w+): (\d+) changelog records", text)]


def _stored(stack: Stack, marker: str) -> int:
    """Entries in the timer's partition files whose request goes to a path holding ``marker``."""
    total = 0
    for path in (stack.data_dir / "timer" / stack.settings.topic_prefix).rglob("*.sqlite"):
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            (n,) = conn.execute(
                "SELECT count(*) FROM entries WHERE CAST(value AS TEXT) LIKE ?", (f"%{marker}%",)
            ).fetchone()
            total += n
    return total


def test_timer_kill_9_loses_no_pending_job(stack: Stack, receiver: Receiver) -> None:
    # Given jobs pending for a few seconds, committed and saved in the timer's partition files
    ids = _push(stack, receiver, "timer-crash", delay=4)
    eventually(lambda: _stored(stack, "/timer-crash/") == JOBS, what="the pending jobs in the timer's files")
    restores_before = len(_restores(stack))
    # When the timer is killed with SIGKILL (the supervisor restarts it)
    _kill_and_wait_restart(stack, "timer")

    # Then the new timer restores each partition from its file plus the changelog past its checkpoint: a delta
    # shorter than the jobs pending (they are on disk already), not the whole changelog
    def new_restores() -> list[tuple[str, int]] | None:
        found = _restores(stack)[restores_before:]
        return found if len(found) == 3 else None

    after = eventually(new_restores, what="the restarted timer's 3 restores")
    assert {mode for mode, _ in after} == {"delta"}, after
    assert sum(n for _, n in after) < JOBS, after
    # And every pending job is still delivered, exactly once
    receiver.wait_for(lambda q: q.path.startswith("/timer-crash/"), count=JOBS, timeout=60)
    seen = Counter(q.path for q in receiver.matching(lambda q: q.path.startswith("/timer-crash/")))
    assert set(seen) == {f"/timer-crash/{i}" for i in range(JOBS)}
    assert max(seen.values()) == 1, f"duplicates: {[p for p, n in seen.items() if n > 1]}"
    # And each reads completed with one run
    _all_completed_once(stack, ids)


def test_executor_kill_9_delivers_every_job_at_least_once(stack: Stack, receiver: Receiver) -> None:
    # Given jobs due in two seconds
    ids = _push(stack, receiver, "executor-crash", delay=2)
    # When the executor is killed with SIGKILL before they are due
    _kill_and_wait_restart(stack, "executor")
    # Then every job is delivered (a re-send after a crash is allowed, a loss is not)
    receiver.wait_for(lambda q: q.path.startswith("/executor-crash/"), count=JOBS, timeout=60)
    seen = {q.path for q in receiver.matching(lambda q: q.path.startswith("/executor-crash/"))}
    assert seen == {f"/executor-crash/{i}" for i in range(JOBS)}
    _all_completed_once(stack, ids)


def test_projector_kill_9_neither_skips_nor_doubles(stack: Stack, receiver: Receiver) -> None:
    # Given jobs flowing through the pipeline
    ids = _push(stack, receiver, "projector-crash", delay=1)
    # When the projector is killed with SIGKILL mid-stream
    _kill_and_wait_restart(stack, "projector")
    receiver.wait_for(lambda q: q.path.startswith("/projector-crash/"), count=JOBS, timeout=60)
    # Then every job reads completed with exactly one run: no event skipped, none applied twice
    _all_completed_once(stack, ids)
