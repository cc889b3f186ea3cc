"""Assignment diffs: full set, then only what the worker needs, never stale."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

from actors.dispatcher.assignments import AssignmentSet, is_assigned, same_for_worker
from api.objects import Task
from api.task_state import TaskState
from tests.unit.dispatcher.helpers import NODE_A, NODE_B, bump, status, task


def test_assigned_means_this_node_and_at_least_assigned() -> None:
    assert is_assigned(task("t1"), NODE_A)
    assert is_assigned(task("t1", state=TaskState.FAILED), NODE_A)
    assert not is_assigned(task("t1", state=TaskState.PENDING), NODE_A)
    assert not is_assigned(task("t1"), NODE_B)


def test_full_set_filters_and_sorts() -> None:
    tasks = [task("t3"), task("t1"), task("t2", state=TaskState.PENDING), task("t4", NODE_B)]
    delta = AssignmentSet(NODE_A, 10, tasks).full()
    assert delta.full
    assert [t.id[:2] for t in delta.tasks] == ["t1", "t3"]
    assert delta.removed == ()


def test_new_task_is_sent_once() -> None:
    s = AssignmentSet(NODE_A, 10, [])
    t = task("t1", version=11)
    s.observe_update(t, 11)
    delta = s.take()
    assert not delta.full and delta.tasks == (t,)
    assert s.take().empty


def test_pending_task_is_not_sent_until_assigned() -> None:
    s = AssignmentSet(NODE_A, 10, [])
    t = task("t1", state=TaskState.PENDING, version=11)
    s.observe_update(t, 11)
    assert s.take().empty
    assigned = bump(t, 12, status=status(TaskState.ASSIGNED))
    s.observe_update(assigned, 12)
    assert s.take().tasks == (assigned,)


def test_status_echo_of_the_worker_is_not_sent_back() -> None:
    t = task("t1", version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    s.observe_update(bump(t, 6, status=status(TaskState.RUNNING)), 6)
    assert s.take().empty


def test_desired_state_change_is_sent() -> None:
    t = task("t1", state=TaskState.RUNNING, version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    stop = bump(t, 6, desired_state=TaskState.SHUTDOWN)
    s.observe_update(stop, 6)
    assert s.take().tasks == (stop,)


def test_changes_are_coalesced_to_the_latest() -> None:
    t = task("t1", state=TaskState.RUNNING, version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    v6 = bump(t, 6, desired_state=TaskState.SHUTDOWN)
    v7 = bump(v6, 7, status=status(TaskState.SHUTDOWN))
    s.observe_update(v6, 6)
    s.observe_update(v7, 7)
    assert s.take().tasks == (v7,)


def test_delete_is_sent_as_removed_and_cancels_a_pending_change() -> None:
    t = task("t1", version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    s.observe_update(bump(t, 6, desired_state=TaskState.SHUTDOWN), 6)
    s.observe_delete(t.id, 7)
    delta = s.take()
    assert delta.tasks == () and delta.removed == (t.id,)
    assert t.id not in s


def test_delete_of_an_unknown_task_is_ignored() -> None:
    s = AssignmentSet(NODE_A, 5, [])
    s.observe_delete("x" * 25, 6)
    assert s.take().empty


def test_events_already_in_the_full_set_are_ignored() -> None:
    t = task("t1", version=8)
    s = AssignmentSet(NODE_A, 9, [t])  # read at store version 9
    s.full()
    s.observe_update(task("t1", version=7, image="old"), 7)  # an older change
    s.observe_update(t, 8)  # the very version read
    s.observe_update(task("t2", version=9), 9)  # created at or before the view
    assert s.take().empty


def test_create_then_delete_before_the_view_is_not_resurrected() -> None:
    s = AssignmentSet(NODE_A, 5, [])
    s.observe_delete("t9".ljust(25, "0"), 7)
    s.observe_update(task("t9", version=6), 6)  # replayed after its deletion
    assert s.take().empty


def test_task_moved_to_another_node_is_removed() -> None:
    t = task("t1", version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    s.observe_update(bump(t, 6, node_id=NODE_B), 6)
    assert s.take().removed == (t.id,)


def test_same_for_worker_ignores_meta_and_status() -> None:
    t = task("t1", version=1)
    assert same_for_worker(t, bump(t, 9, status=status(TaskState.RUNNING, "started")))
    assert not same_for_worker(t, bump(t, 9, desired_state=TaskState.SHUTDOWN))


def test_still_assigned_tasks_are_resent_on_any_change() -> None:
    t = task("t1", version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    again = bump(t, 6, status=status(TaskState.ASSIGNED, "rescheduled"))
    s.observe_update(again, 6)
    assert s.take().tasks == (again,)


def test_a_set_is_touched_only_by_what_its_worker_must_be_sent() -> None:
    t = task("t1", version=5)
    s = AssignmentSet(NODE_A, 5, [t])
    s.full()
    assert not s.touched
    s.observe_update(bump(t, 6, status=status(TaskState.RUNNING)), 6)  # the echo
    assert not s.touched and s.take().empty
    s.observe_update(task("t2", version=7), 7)
    assert s.touched
    assert [x.id[:2] for x in s.take().tasks] == ["t2"]
    assert not s.touched
    s.observe_delete(t.id, 8)
    assert s.touched and s.take().removed == (t.id,)


def _of(t: Task, service_id: str) -> Task:
    return replace(t, service_id=service_id)


def test_a_removed_services_tasks_are_told_remove_before_the_orchestrator_writes_it() -> None:
    # service rm committed: the worker hears of it at the next take, not seconds later
    # when the orchestrator's REMOVE writes come behind a big service's creation
    removing: set[str] = set()
    running = _of(task("t1", state=TaskState.RUNNING, version=5), "gone")
    other = _of(task("t2", state=TaskState.RUNNING, version=5), "kept")
    s = AssignmentSet(NODE_A, 5, [running, other], removing)
    s.full()
    removing.add("gone")
    s.services_removed({"gone"})
    (told,) = s.take().tasks
    assert told.id == running.id and told.desired_state is TaskState.REMOVE
    # a task the scheduler assigns afterwards is told REMOVE at once
    late = _of(task("t3", version=7), "gone")
    s.observe_update(late, 7)
    (told,) = s.take().tasks
    assert told.id == late.id and told.desired_state is TaskState.REMOVE
    # the orchestrator's own REMOVE is not sent again; a status echo is not either
    written = bump(running, 8, desired_state=TaskState.REMOVE)
    s.observe_update(written, 8)
    assert s.take().empty
    # a session opened meanwhile gets them so in its full set
    full = AssignmentSet(NODE_A, 8, [running, other, late], removing).full()
    assert {t.id[:2]: t.desired_state for t in full.tasks} == {
        "t1": TaskState.REMOVE,
        "t2": TaskState.RUNNING,
        "t3": TaskState.REMOVE,
    }


def test_a_session_does_not_grow_with_the_tasks_deleted_on_its_node() -> None:
    # every task the node ever ran left its id behind in the leader's session, for as long
    # as the session lasted (a week: every restart of every crash-looping task)
    s = AssignmentSet(NODE_A, 5, [])
    s.full()

    def churn(start: int, count: int) -> None:
        for n in range(start, start + count):
            t = task(f"t{n}", version=2 * n)
            s.observe_update(t, 2 * n)
            s.observe_delete(t.id, 2 * n + 1)
            s.take()

    churn(10, 200)  # warm the set's own structures
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        churn(1_000, 2_000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(d.size_diff for d in after.compare_to(before, "filename"))
    assert grown < 20_000, f"{grown} bytes more after 2,000 tasks came and went"
    assert s.take().empty and len(s) == 0
