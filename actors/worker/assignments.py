"""What an assignment set from a manager changes on a node, without I/O (the worker:
actors/worker/runner_table.py; the fleet's simulated nodes: actors/node/fleet/tasks.py).

Rules (``AssignmentSink.apply_assignments``, actors/worker/interfaces.py):
- Each task of the set is added, or updated if the node holds it already; a task named
  twice counts once, as its last copy.
- A full set (a session's first frame) removes every task the node holds that it lacks;
  a change set removes the ids it names.
- A task that the set both assigns and removes stays assigned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from api.objects import Task

__all__ = ["AssignmentChanges", "assignment_changes"]


class AssignmentChanges(NamedTuple):  # a tuple: made for every frame of every fleet node
    upserts: tuple[Task, ...]  # to add, or to update where held
    removals: tuple[str, ...]  # ids of held tasks no longer assigned


def assignment_changes(
    held: Iterable[str], full: bool, tasks: Sequence[Task], removed: Iterable[str]
) -> AssignmentChanges:
    """The changes an assignment set makes to a node holding the tasks ``held`` (ids)."""
    incoming = {task.id: task for task in tasks}
    gone = {task_id for task_id in removed if task_id not in incoming}
    if full:
        gone |= {task_id for task_id in held if task_id not in incoming}
    return AssignmentChanges(tuple(incoming.values()), tuple(gone))
