"""SchedulerCore: which tasks wait, decisions, messages, bookings, reverts, dirtiness."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from typing import Any

import pytest

import actors.scheduler.scheduler as scheduler_module
from actors.node.tree.host_info import describe_executor
from actors.scheduler import ASSIGNED_MESSAGE, Demand, SchedulerCore, demand_of
from api.enums import NodeState, PublishMode
from api.objects import Service, Task, TaskStatus
from api.specs import EndpointSpec, PortConfig, ServiceSpec
from api.task_state import TaskState
from tests.unit.scheduler.helpers import GB, node, task


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def core() -> SchedulerCore:
    return SchedulerCore(clock=Clock(), rng=random.Random(3))


def assigned(t: Task, node_id: str) -> Task:
    return dataclasses.replace(
        t,
        node_id=node_id,
        status=TaskStatus(state=TaskState.ASSIGNED, message=ASSIGNED_MESSAGE),
        meta=dataclasses.replace(t.meta, version=t.meta.version + 1),
    )


def test_only_pending_tasks_wanting_to_run_wait() -> None:
    c = core()
    waiting = task(id="w")
    job = task(id="j", desired=TaskState.COMPLETE)
    new = task(id="n", state=TaskState.NEW)
    shut = task(id="s", desired=TaskState.SHUTDOWN)
    c.reset([node("a")], [waiting, job, new, shut], [])
    assert set(c.waiting) == {"w", "j"}


def test_schedules_a_batch_across_nodes_and_books_it() -> None:
    c = core()
    tasks = [task(slot=i) for i in range(1, 7)]
    c.reset([node("a"), node("b"), node("c")], tasks, [])
    d = c.schedule()
    assert len(d.assignments) == 6 and not d.unschedulable
    assert Counter(a.node_id for a in d.assignments) == {"a": 2, "b": 2, "c": 2}
    assert c.waiting == {}
    assert sum(n.active_tasks for n in c.nodes.values()) == 6
    # the echo of the write changes nothing and does not make work
    for a in d.assignments:
        c.task_changed(assigned(a.task, a.node_id), a.task)
    assert not c.dirty
    assert sum(n.active_tasks for n in c.nodes.values()) == 6
    assert not c.schedule()


def test_unschedulable_message_names_reasons_and_counts_and_is_written_once() -> None:
    c = core()
    c.reset(
        [
            node("a", memory=GB),
            node("b", memory=GB, labels={"zone": "a"}),
            node("c", labels={"zone": "b"}),
        ],
        [task(id="t1", memory=2 * GB, constraints=("node.labels.zone==a",))],
        [],
    )
    d = c.schedule()
    assert not d.assignments
    [u] = d.unschedulable
    assert u.message == (
        "no suitable node (insufficient memory on 1 node; "
        "constraint node.labels.zone==a not satisfied on 2 nodes)"
    )
    # the store echoes the message: nothing new to write, even when re-run
    c.task_changed(
        dataclasses.replace(u.task, status=TaskStatus(state=TaskState.PENDING, message=u.message))
    )
    c.dirty = True
    d2 = c.schedule()
    assert not d2 and d2.still_pending == 1


def test_a_node_label_update_makes_waiting_tasks_fit() -> None:
    c = core()
    c.reset([node("a")], [task(id="t1", constraints=("node.labels.zone==a",))], [])
    assert c.schedule().unschedulable
    assert not c.schedule()  # nothing changed: nothing to do
    c.node_changed(node("a", labels={"zone": "A"}))
    assert c.dirty
    [a] = c.schedule().assignments
    assert a.node_id == "a"


def test_resources_freed_when_a_task_ends_or_is_deleted() -> None:
    c = core()
    running = task(id="r", node_id="a", state=TaskState.RUNNING, memory=3 * GB)
    c.reset([node("a", memory=4 * GB)], [running, task(id="w", memory=2 * GB)], [])
    assert c.schedule().unschedulable
    assert c.nodes["a"].reserved_memory == 3 * GB
    done = dataclasses.replace(running, status=TaskStatus(state=TaskState.COMPLETE))
    c.task_changed(done, running)
    assert c.dirty and c.nodes["a"].reserved_memory == 0
    assert [a.node_id for a in c.schedule().assignments] == ["a"]


def test_task_deleted_frees_its_node() -> None:
    c = core()
    running = task(id="r", node_id="a", state=TaskState.RUNNING)
    c.reset([node("a")], [running], [])
    assert c.nodes["a"].active_tasks == 1
    c.task_deleted(running)
    assert c.nodes["a"].active_tasks == 0


def test_revert_takes_back_an_assignment_and_retries() -> None:
    c = core()
    t = task(id="t1")
    c.reset([node("a")], [t], [])
    [a] = c.schedule().assignments
    c.revert(a)
    assert c.nodes["a"].active_tasks == 0 and "t1" in c.waiting and c.dirty
    assert [x.task.id for x in c.schedule().assignments] == ["t1"]


def test_preassigned_task_is_checked_on_its_node_only() -> None:
    c = core()
    ok = task(id="ok", node_id="a")
    bad = task(id="bad", node_id="b", memory=16 * GB)
    gone = task(id="gone", node_id="zz")
    c.reset([node("a"), node("b")], [ok, bad, gone], [])
    d = c.schedule()
    assert [(a.task.id, a.node_id) for a in d.assignments] == [("ok", "a")]
    messages = {u.task.id: u.message for u in d.unschedulable}
    assert messages == {
        "bad": "no suitable node (insufficient memory on 1 node)",
        "gone": "no suitable node (node zz not found)",
    }


def test_a_global_services_pinned_tasks_share_one_demand_per_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read once per service and spec, not once per task: the constraints are parsed and
    the executor's needs found once for all of a global service's nodes."""
    read: list[str] = []

    def counting(t: Task, *args: Any) -> Demand:
        read.append(t.id)
        return demand_of(t, *args)

    monkeypatch.setattr(scheduler_module, "demand_of", counting)
    c = core()
    nodes = [node(f"n{i}", executor=describe_executor("docker")) for i in range(4)]
    pinned = [
        task("g", id=f"t{i}", node_id=f"n{i}", constraints=("node.role==worker",)) for i in range(4)
    ]
    c.reset(nodes, pinned, [])
    d = c.schedule()
    assert len(d.assignments) == 4 and len(read) == 1
    # the same service and version with another spec (never in practice) is read anew
    other = task("g", id="t9", node_id="n0", memory=1 << 50)
    c.task_changed(other)
    d = c.schedule()
    assert read[-1] == "t9" and [u.message for u in d.unschedulable] == [
        "no suitable node (insufficient memory on 1 node)"
    ]


def test_host_ports_come_from_the_service_endpoint() -> None:
    port = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    svc = Service(id="web", spec=ServiceSpec(name="web", endpoint=EndpointSpec(ports=(port,))))
    c = core()
    c.reset([node("a"), node("b")], [task("web", slot=i) for i in (1, 2, 3)], [svc])
    d = c.schedule()
    assert sorted(a.node_id for a in d.assignments) == ["a", "b"]
    [u] = d.unschedulable
    assert u.message == "no suitable node (host port 8080/tcp in use on 2 nodes)"


def test_failures_are_recorded_when_a_task_fails() -> None:
    c = core()
    running = task("svc", id="r", node_id="a", state=TaskState.RUNNING)
    c.reset([node("a"), node("b")], [running], [])
    failed = dataclasses.replace(running, status=TaskStatus(state=TaskState.FAILED))
    c.task_changed(failed, running)
    assert c.nodes["a"].recent_failures("svc", 1000.0) == 1


def test_nodes_added_later_pick_up_their_tasks() -> None:
    c = core()
    running = task(id="r", node_id="late", state=TaskState.RUNNING, memory=GB)
    c.reset([], [running], [])
    c.node_changed(node("late"))
    assert c.nodes["late"].reserved_memory == GB


def test_down_nodes_are_skipped_and_no_nodes_is_explained() -> None:
    c = core()
    c.reset([], [task(id="t")], [])
    [u] = c.schedule().unschedulable
    assert u.message == "no suitable node (no nodes available)"
    c.node_changed(node("a", state=NodeState.DOWN))
    [u] = c.schedule().unschedulable
    assert u.message == "no suitable node (node not ready on 1 node)"


def test_bookings_without_host_ports_share_one_empty_set() -> None:
    """Every booked task's Usage held a fresh empty frozenset (216 bytes) before."""
    from actors.scheduler.demand import host_ports_of

    assert host_ports_of(()) is host_ports_of(())
    assert host_ports_of(()) == frozenset()


def test_the_tasks_a_demand_places_share_its_usage() -> None:
    from actors.scheduler.demand import Demand

    demand = Demand("s" * 25, nano_cpus=5)
    assert demand.usage is demand.usage
    assert (demand.usage.service_id, demand.usage.nano_cpus) == ("s" * 25, 5)


def test_a_services_booked_tasks_share_a_usage_until_its_ports_change() -> None:
    """A leader's start books every placed task: each built its own Usage before."""
    svc = Service(id="web", spec=ServiceSpec(name="web"))
    placed = [
        task("web", id=f"t{i}", node_id="a", state=TaskState.RUNNING, memory=GB) for i in (1, 2)
    ]
    c = core()
    c.reset([node("a")], placed, [svc])
    first, second = (c.nodes["a"].tasks[t.id] for t in placed)
    assert first is second and first.memory_bytes == GB and first.host_ports == frozenset()
    port = PortConfig(target_port=80, published_port=8080, publish_mode=PublishMode.HOST)
    c.service_changed(
        Service(id="web", spec=ServiceSpec(name="web", endpoint=EndpointSpec(ports=(port,))))
    )
    third = task("web", id="t3", node_id="a", state=TaskState.RUNNING, memory=GB)
    c.task_changed(third)
    assert c.nodes["a"].tasks["t3"].host_ports == frozenset({("tcp", 8080)})
    assert c.nodes["a"].port_in_use(("tcp", 8080))


def test_a_removed_services_name_goes_to_the_new_service_of_that_name() -> None:
    """``service rm`` frees the name at once: a dependency on the name follows the new
    service, even when the removed one is written again and then deleted."""
    old = Service(id="old", spec=ServiceSpec(name="db"))
    new = Service(id="new", spec=ServiceSpec(name="db"))
    c = core()
    c.reset([node("a")], [], [old])
    c.service_changed(dataclasses.replace(old, pending_delete=True))
    c.service_changed(new)
    c.service_changed(dataclasses.replace(old, pending_delete=True, spec_version=2))
    c.service_deleted("old")
    assert c._s.by_name == {"db": "new"}
