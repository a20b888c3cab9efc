"""The supervisor leaves node ids to the leases, unless one is set explicitly (decision 0013)."""

from __future__ import annotations

from chronohook.supervisor import Supervisor


def test_ingest_workers_get_no_node_id_when_none_is_set() -> None:
    # Given a supervisor for two API workers and no CHRONOHOOK_NODE_ID
    supervisor = Supervisor(env={"CHRONOHOOK_TOPIC_PREFIX": "p"}, api_workers=2)

    # When it plans its ingest children
    children = supervisor._instances("ingest")

    # Then each has its own name and instance id, and no node id: each leases a free one
    assert [name for name, _ in children] == ["ingest-1", "ingest-2"]
    assert all("CHRONOHOOK_NODE_ID" not in env for _, env in children)
    assert {env["CHRONOHOOK_GROUP_INSTANCE_ID"] for _, env in children} == {"p.ingest-1", "p.ingest-2"}


def test_an_explicit_node_id_is_spread_over_the_workers() -> None:
    # Given CHRONOHOOK_NODE_ID=10 and three API workers
    supervisor = Supervisor(env={"CHRONOHOOK_NODE_ID": "10"}, api_workers=3)

    # When it plans its ingest children
    children = supervisor._instances("ingest")

    # Then they ask for 10, 11 and 12 (the same one for all would be refused)
    assert [env["CHRONOHOOK_NODE_ID"] for _, env in children] == ["10", "11", "12"]


def test_the_timer_keeps_one_group_instance_id_across_restarts_and_gets_no_node_id() -> None:
    # Given a supervisor with no CHRONOHOOK_NODE_ID
    supervisor = Supervisor(env={"CHRONOHOOK_TOPIC_PREFIX": "p"}, services=("timer",))

    # When it plans its timer child
    [(name, env)] = supervisor._instances("timer")

    # Then the child leases its own number, under the supervisor's name for it: the claim key its restarts
    # (spawned with this same env) present to take the number back at once (decision 0013)
    assert name == "timer" and "CHRONOHOOK_NODE_ID" not in env
    assert env["CHRONOHOOK_GROUP_INSTANCE_ID"] == "p.timer"


def test_several_executors_each_get_a_name_and_group_instance_id_of_their_own() -> None:
    # Given a supervisor running three executor processes
    supervisor = Supervisor(env={"CHRONOHOOK_TOPIC_PREFIX": "p"}, executors=3)

    # When it plans its executor children
    children = supervisor._instances("executor")

    # Then each is a member of the one executors' group under its own static id (two sharing one would fence each
    # other), and no node id is given (executors mint none)
    assert [name for name, _ in children] == ["executor-1", "executor-2", "executor-3"]
    assert [env["CHRONOHOOK_GROUP_INSTANCE_ID"] for _, env in children] == [
        "p.executor-1",
        "p.executor-2",
        "p.executor-3",
    ]
    assert all("CHRONOHOOK_NODE_ID" not in env for _, env in children)


def test_one_executor_keeps_its_plain_name() -> None:
    # Given the default supervisor (as the test stacks run it)
    supervisor = Supervisor(env={"CHRONOHOOK_TOPIC_PREFIX": "p"})
    # When it plans its executor child, then it is the one `executor`
    assert [name for name, _ in supervisor._instances("executor")] == ["executor"]
