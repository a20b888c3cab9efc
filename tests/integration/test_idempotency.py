"""Idempotency-Key end to end: the same key twice makes one job and one delivery; another body is a 422."""

from __future__ import annotations

import secrets

from tests.conftest import Stack
from tests.support.receiver import Receiver


def test_the_same_key_twice_is_one_job_and_one_delivery(stack: Stack, receiver: Receiver) -> None:
    # Given a Recuro push and a QuedUp create, each with its own Idempotency-Key, due at once
    tag = secrets.token_hex(4)
    push = {"queue": "idem", "url": receiver.url(f"/idem-push-{tag}"), "payload": {"order": 42}}
    create = {"name": f"idem-{tag}", "method": "POST", "url": receiver.url(f"/idem-create-{tag}")}
    with stack.client() as c:
        # When each is sent twice with its key
        pushes = [c.post("/api/jobs", json=push, headers={"Idempotency-Key": f"push-{tag}"}) for _ in range(2)]
        creates = [c.post("/jobs", json=create, headers={"Idempotency-Key": f"create-{tag}"}) for _ in range(2)]
        # And once more with another body
        other = c.post("/api/jobs", json=push | {"delay": 5}, headers={"Idempotency-Key": f"push-{tag}"})
        # And a marker job, due 3 s later, is pushed without a key
        marker = c.post("/api/jobs", json={"queue": "idem", "url": receiver.url(f"/idem-marker-{tag}"), "delay": 3})

    # Then the repeats got the first answers, and the other body a 422
    assert pushes[0].status_code == 201, pushes[0].text
    assert pushes[1].json() == pushes[0].json()
    assert pushes[1].headers["Idempotent-Replayed"] == "true"
    assert creates[0].status_code == 200, creates[0].text
    assert creates[1].json() == creates[0].json()
    assert other.status_code == 422, other.text
    assert "Idempotency-Key" in other.json()["errors"]
    assert marker.status_code == 201, marker.text

    # And, once the marker (due 3 s after them) has arrived, each was delivered exactly once
    receiver.wait_for(lambda q: q.path == f"/idem-push-{tag}", timeout=30)
    receiver.wait_for(lambda q: q.path == f"/idem-create-{tag}", timeout=30)
    receiver.wait_for(lambda q: q.path == f"/idem-marker-{tag}", timeout=30)
    assert len(receiver.matching(lambda q: q.path == f"/idem-push-{tag}")) == 1
    assert len(receiver.matching(lambda q: q.path == f"/idem-create-{tag}")) == 1
