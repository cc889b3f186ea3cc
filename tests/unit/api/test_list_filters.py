"""``node ls`` and ``node ps`` filters (api/list_filters.py): Docker's keys and rules, and
each refusal naming what was wrong."""

from __future__ import annotations

import pytest

from api.cluster_specs import NodeSpec
from api.enums import NodeRole
from api.list_filters import (
    MAX_FILTER_LENGTH,
    MAX_FILTER_VALUES,
    parse_node_filter,
    parse_task_filter,
)
from api.objects import EngineDescription, Node, NodeDescription, Task
from api.task_state import TaskState


def node(
    node_id: str,
    hostname: str,
    *,
    role: NodeRole = NodeRole.WORKER,
    labels: dict[str, str] | None = None,
    engine: dict[str, str] | None = None,
) -> Node:
    return Node(
        id=node_id,
        spec=NodeSpec(labels=labels or {}),
        description=NodeDescription(
            hostname=hostname, engine=EngineDescription(labels=engine or {})
        ),
        role=role,
    )


M1 = node("abc123", "m1", role=NodeRole.MANAGER, labels={"zone": "a"}, engine={"disk": "ssd"})
W1 = node("abd456", "w1", labels={"zone": "b", "gpu": ""}, engine={"disk": "hdd"})
W2 = node("xyz789", "w2")
NODES = (M1, W1, W2)


def kept(*words: str) -> list[str]:
    wanted = parse_node_filter(words)
    return [n.hostname for n in NODES if wanted.matches(n)]


def test_no_node_filter_keeps_every_node() -> None:
    assert kept() == ["m1", "w1", "w2"]


@pytest.mark.parametrize(
    ("words", "hostnames"),
    [
        (("id=ab",), ["m1", "w1"]),  # a prefix of the id
        (("id=abd", "id=xyz"), ["w1", "w2"]),  # values of one key: any
        (("name=w",), ["w1", "w2"]),  # a prefix of the hostname
        (("role=manager",), ["m1"]),
        (("role=WORKER",), ["w1", "w2"]),
        (("role=worker", "name=w2"), ["w2"]),  # keys: all
        (("membership=accepted",), ["m1", "w1", "w2"]),  # every stored node was accepted
        (("membership=pending",), []),
        (("node.label=zone",), ["m1", "w1"]),  # the key, any value
        (("node.label=zone=b",), ["w1"]),
        (("node.label=zone=",), ["m1", "w1"]),  # an empty value: any, as SwarmKit's
        (("node.label=zone", "node.label=gpu"), ["w1"]),  # labels: all
        (("label=disk=ssd",), ["m1"]),  # the engine's labels, not the node's
        (("label=zone",), []),
    ],
)
def test_node_filters_follow_dockers_rules(words: tuple[str, ...], hostnames: list[str]) -> None:
    assert kept(*words) == hostnames


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("colour=red", "invalid filter 'colour=red': unknown key 'colour' (expected one of: "),
        ("role", "invalid filter 'role' (expected KEY=VALUE)"),
        ("role=", "invalid filter 'role=' (expected KEY=VALUE)"),
        ("role=boss", "invalid filter 'role=boss' (expected manager or worker)"),
        ("membership=maybe", "invalid filter 'membership=maybe' (expected accepted or pending)"),
        ("desired-state=running", "invalid filter 'desired-state=running': unknown key"),
    ],
)
def test_a_bad_node_filter_is_refused_naming_it(word: str, said: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_node_filter([word])
    assert str(info.value).startswith(said), info.value


def test_filters_are_bounded_in_number_and_length() -> None:
    parse_node_filter(["name=w"] * MAX_FILTER_VALUES)
    with pytest.raises(ValueError, match=f"too many filters \\(at most {MAX_FILTER_VALUES}\\)"):
        parse_node_filter(["name=w"] * (MAX_FILTER_VALUES + 1))
    long = "name=" + "w" * MAX_FILTER_LENGTH
    with pytest.raises(ValueError, match=f"filter longer than {MAX_FILTER_LENGTH} characters"):
        parse_task_filter([long])  # refused without echoing it


def task(task_id: str, slot: int, desired: TaskState = TaskState.RUNNING) -> Task:
    return Task(id=task_id, service_name="web", slot=slot, desired_state=desired)


TASKS = (
    (task("t1aaa", 1), {"tier": "front"}),
    (task("t1bbb", 1, TaskState.SHUTDOWN), {"tier": "front"}),
    (task("t2ccc", 10), {}),
)


def tasks_kept(*words: str) -> list[str]:
    wanted = parse_task_filter(words)
    return [t.id for t, labels in TASKS if wanted.matches(t, f"web.{t.slot}", labels)]


@pytest.mark.parametrize(
    ("words", "ids"),
    [
        ((), ["t1aaa", "t1bbb", "t2ccc"]),
        (("id=t1",), ["t1aaa", "t1bbb"]),
        (("name=web.1",), ["t1aaa", "t1bbb", "t2ccc"]),  # a prefix, as SwarmKit's: web.10
        (("name=web.1.",), ["t1aaa", "t1bbb"]),
        (("name=web.1.t1b",), ["t1bbb"]),  # SwarmKit's task name ends with the id
        (("desired-state=running",), ["t1aaa", "t2ccc"]),
        (("desired-state=Shutdown", "desired-state=complete"), ["t1bbb"]),
        (("label=tier",), ["t1aaa", "t1bbb"]),  # the service's labels
        (("label=tier=back",), []),
        (("label=tier=front", "desired-state=running"), ["t1aaa"]),
    ],
)
def test_task_filters_follow_dockers_rules(words: tuple[str, ...], ids: list[str]) -> None:
    assert tasks_kept(*words) == ids


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("node=w1", "invalid filter 'node=w1': unknown key 'node' (expected one of: "),
        ("desired-state=asleep", "invalid filter 'desired-state=asleep': unknown task state"),
        ("id", "invalid filter 'id' (expected KEY=VALUE)"),
    ],
)
def test_a_bad_task_filter_is_refused_naming_it(word: str, said: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_task_filter([word])
    assert str(info.value).startswith(said), info.value
