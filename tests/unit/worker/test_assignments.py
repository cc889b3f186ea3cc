"""What an assignment set changes on a node (actors/worker/assignments.py)."""

from __future__ import annotations

from dataclasses import replace

from actors.worker.assignments import assignment_changes
from api.task_state import TaskState
from tests.unit.worker.helpers import make_task


def test_a_change_set_adds_updates_and_removes_what_it_names() -> None:
    changes = assignment_changes(["t1", "t2"], False, [make_task("t1"), make_task("t3")], ["t2"])
    assert [t.id for t in changes.upserts] == ["t1", "t3"]
    assert changes.removals == ("t2",)


def test_a_full_set_removes_every_held_task_it_lacks() -> None:
    changes = assignment_changes(["t1", "t2", "t3"], True, [make_task("t2")], [])
    assert [t.id for t in changes.upserts] == ["t2"]
    assert sorted(changes.removals) == ["t1", "t3"]


def test_a_task_both_assigned_and_removed_stays_assigned() -> None:
    changes = assignment_changes(["t1"], False, [make_task("t1")], ["t1", "t9"])
    assert [t.id for t in changes.upserts] == ["t1"]
    assert changes.removals == ("t9",)


def test_a_task_named_twice_counts_once_as_its_last_copy() -> None:
    first = make_task("t1")
    last = replace(first, desired_state=TaskState.SHUTDOWN)
    changes = assignment_changes([], False, [first, last], [])
    assert changes.upserts == (last,)
