"""``chronohook replay --verify`` over the real stack: the replayed read models equal the live ones, and the replay
sends nothing (no job request, no callback again); after a kill -9 of the projector mid-stream, still equal."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select, update

from chronohook.ids import recuro_job_key
from chronohook.store.engine import make_engine
from chronohook.store.tables import jobs
from tests.conftest import Stack
from tests.support.receiver import Receiver

JOBS = 12


def _push_with_callbacks(stack: Stack, receiver: Receiver, tag: str, delay: int) -> list[str]:
    keys = []
    with stack.client() as c:
        for i in range(JOBS):
            r = c.post(
                "/api/jobs",
                json={
                    "queue": tag,
                    "url": receiver.url(f"/{tag}/job/{i}"),
                    "delay": delay,
                    "callback_url": receiver.url(f"/{tag}/callback/{i}"),
                },
            )
            assert r.status_code == 201, r.text
            keys.append(recuro_job_key(r.json()["job_id"]))
    return keys


def _wait_delivered(receiver: Receiver, tag: str) -> int:
    receiver.wait_for(lambda q: q.path.startswith(f"/{tag}/job/"), count=JOBS, timeout=60)
    receiver.wait_for(lambda q: q.path.startswith(f"/{tag}/callback/"), count=JOBS, timeout=60)
    return len(receiver.matching(lambda q: q.path.startswith(f"/{tag}/")))


def _replay_verify(stack: Stack) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        CHRONOHOOK_DATA_DIR=str(stack.data_dir),
        CHRONOHOOK_KAFKA_BOOTSTRAP=stack.settings.kafka_bootstrap,
        CHRONOHOOK_TOPIC_PREFIX=stack.settings.topic_prefix,
        CHRONOHOOK_PARTITIONS=str(stack.settings.partitions),
    )
    return subprocess.run(
        [sys.executable, "-m", "chronohook.cli", "replay", "--verify", "--wait", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_replay_verify_is_equal_and_sends_nothing(stack: Stack, receiver: Receiver) -> None:
    # Given jobs with callbacks that have run: every job request and every callback received
    tag = "replay-equal"
    _push_with_callbacks(stack, receiver, tag, delay=0)
    seen = _wait_delivered(receiver, tag)
    # When the log is replayed into a fresh database and compared with the live one
    done = _replay_verify(stack)
    # Then it exits 0 and says every read model is equal
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("equal"), done.stdout
    assert "replayed" in done.stdout and "jobs" in done.stdout
    # And no job request or callback was sent again (the replay folded the results; it sent nothing)
    assert len(receiver.matching(lambda q: q.path.startswith(f"/{tag}/"))) == seen == 2 * JOBS


def test_replay_verify_names_a_row_that_differs(stack: Stack, receiver: Receiver) -> None:
    # Given a finished job whose live row was changed behind the projector's back
    tag = "replay-differs"
    key = _push_with_callbacks(stack, receiver, tag, delay=0)[0]
    _wait_delivered(receiver, tag)
    engine = make_engine(stack.settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            was = conn.execute(select(jobs.c.integer_id).where(jobs.c.job_id == key)).scalar_one()
            conn.execute(update(jobs).where(jobs.c.job_id == key).values(integer_id=-1))
        # When replayed and verified
        done = _replay_verify(stack)
    finally:
        with engine.begin() as conn:
            conn.execute(update(jobs).where(jobs.c.job_id == key).values(integer_id=was))
        engine.dispose()
    # Then it exits 1 and names the row and the column
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"  {key}: integer_id: replay={was} live=-1" in done.stdout, done.stdout
    assert done.stdout.rstrip().endswith("DIFFERENT")


def test_replay_verify_after_the_projector_is_killed_mid_stream(stack: Stack, receiver: Receiver) -> None:
    # Given jobs with callbacks flowing through the pipeline
    tag = "replay-kill"
    _push_with_callbacks(stack, receiver, tag, delay=1)
    # When the projector is killed with SIGKILL mid-stream (the supervisor restarts it)
    old = stack.supervisor.kill("projector")
    assert old > 0
    _wait_delivered(receiver, tag)
    # Then the replay, at the live projector's position, is still equal: no event applied twice or skipped
    done = _replay_verify(stack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("equal"), done.stdout
