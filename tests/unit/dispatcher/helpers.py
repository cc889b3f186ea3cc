"""Builders for the dispatcher's unit tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from api.objects import Meta, Task, TaskStatus
from api.specs import ContainerSpec, TaskSpec
from api.task_state import TaskState

NODE_A = "a" * 25
NODE_B = "b" * 25


class RecordingLog:
    """A logger for the pure core: records (level, event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.events.append(("info", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append(("warning", event, kw))

    def names(self) -> list[str]:
        return [e[1] for e in self.events]


def task(
    id: str,
    node_id: str = NODE_A,
    state: TaskState = TaskState.ASSIGNED,
    version: int = 1,
    image: str = "busybox",
    desired: TaskState = TaskState.RUNNING,
) -> Task:
    return Task(
        id=id.ljust(25, "0"),
        meta=Meta(version=version),
        spec=TaskSpec(container=ContainerSpec(image=image)),
        node_id=node_id,
        desired_state=desired,
        status=TaskStatus(state=state),
    )


def bump(t: Task, version: int, **changes: Any) -> Task:
    return replace(t, meta=Meta(version=version), **changes)


def status(state: TaskState, message: str = "") -> TaskStatus:
    return TaskStatus(state=state, message=message)
