"""Builders for the dispatcher's unit tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from api.objects import Meta, Task, TaskStatus
from api.schema.frame import Envelope
from api.specs import ContainerSpec, TaskSpec
from api.task_state import TaskState
from transport.endpoint import Request

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


class GateOutbox:
    """The endpoint's outbox as a request sees it; ``close()`` makes sends wait (a slow
    stream), ``open()`` lets them through."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def send(self, parts: Sequence[bytes]) -> bool:
        if not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(30)
        self.sent.append(parts[1])
        return True


def session_request(outbox: GateOutbox, key: bytes, rid: int = 1) -> Request:
    envelope = Envelope("dispatcher.session", rid, {})
    stand_in: Any = outbox  # an Outbox as far as a Request uses one
    return Request(envelope, key, b"peer", stand_in, endpoint="remote", max_size=1 << 20)
