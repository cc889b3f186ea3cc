"""The broker's watch predicate: the changes that can concern a follow, and no others."""

from __future__ import annotations

from dataclasses import replace

from actors.logs.broker import concerns_follows
from actors.store import Action, Event
from api.objects import ObjectKind, TaskStatus
from api.task_state import TaskState
from tests.unit.store.helpers import node, service, task


def event(action: Action, obj: object, old: object = None) -> Event:
    kind = {"Task": ObjectKind.TASK, "Service": ObjectKind.SERVICE, "Node": ObjectKind.NODE}
    return Event(kind[type(obj).__name__], action, obj, 7, old)  # type: ignore[arg-type]


def test_a_task_placed_or_removed_concerns_follows() -> None:
    new = task("s1")
    placed = replace(new, node_id="n1")
    assert not concerns_follows(event(Action.CREATE, new))  # on no node yet
    assert concerns_follows(event(Action.CREATE, placed))  # created on a node (global)
    assert concerns_follows(event(Action.UPDATE, placed, new))
    assert concerns_follows(event(Action.UPDATE, replace(placed, node_id="n2"), placed))
    assert concerns_follows(event(Action.DELETE, placed, placed))
    assert concerns_follows(event(Action.DELETE, new, new))


def test_a_task_progressing_where_it_is_does_not() -> None:
    placed = task("s1", node_id="n1")
    running = replace(placed, status=TaskStatus(state=TaskState.RUNNING))
    assert not concerns_follows(event(Action.UPDATE, running, placed))
    gone = replace(running, desired_state=TaskState.SHUTDOWN)
    assert not concerns_follows(event(Action.UPDATE, gone, running))


def test_a_service_only_when_removed_a_node_always() -> None:
    s = service()
    assert not concerns_follows(event(Action.CREATE, s))
    assert not concerns_follows(event(Action.UPDATE, s, s))
    assert concerns_follows(event(Action.DELETE, s, s))
    n = node()
    assert concerns_follows(event(Action.CREATE, n))
    assert concerns_follows(event(Action.UPDATE, n, n))
    assert concerns_follows(event(Action.DELETE, n, n))
