"""What a session frame and a heartbeat reply do on the node (actors/worker/
agent_frames.py), without a session: the hooks hear what changed, a failing hook never
ends the session, a failing worker does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from actors.dispatcher.wire import ManagerAddress, SessionFrame
from actors.worker.agent_frames import FrameApplier
from actors.worker.dependencies import DependencyStore
from actors.worker.session import ManagerRotation
from actors.worker.session_calls import SessionEnded
from api.objects import Task, TaskStatus

M1 = ManagerAddress("tcp://10.0.0.1:4242", b"k1")
M2 = ManagerAddress("tcp://10.0.0.2:4242", b"k2")


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.applied: list[tuple[bool, int, tuple[str, ...]]] = []

    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        if self.fail:
            raise RuntimeError("worker stopped")
        self.applied.append((full, len(tasks), tuple(removed)))

    def current_statuses(self) -> Sequence[tuple[str, TaskStatus]]:
        return ()


def frame(**changes: Any) -> SessionFrame:
    fields: dict[str, Any] = dict(
        session_id="s1", heartbeat_period=5.0, managers=(), full=False, tasks=(), removed=()
    )
    return SessionFrame(**{**fields, **changes})


def applier(sink: Sink, heard: list[tuple[str, Any]], **hooks: Any) -> FrameApplier:
    def hook(name: str) -> Any:
        return hooks.get(name, lambda value: heard.append((name, value)))

    return FrameApplier(
        sink=sink,
        dependencies=DependencyStore(clock=lambda: 0.0),
        rotation=ManagerRotation([M1]),
        on_role=hook("role"),
        on_ca=hook("ca"),
        on_managers=hook("managers"),
        on_ingress=hook("ingress"),
    )


def test_a_changed_manager_list_is_told_and_the_same_one_is_not() -> None:
    heard: list[tuple[str, Any]] = []
    frames = applier(Sink(), heard)
    frames.managers_from(frame(managers=(M1, M2)))
    frames.managers_from(frame(managers=(M1, M2)))
    frames.managers_from(frame())  # no list: the one we have stays
    assert heard == [("managers", (M1, M2))]


def test_the_role_goes_to_the_renewer_before_the_assignments_reach_the_worker() -> None:
    heard: list[tuple[str, Any]] = []
    sink = Sink()
    frames = applier(sink, heard)
    frames.apply(frame(role="manager", full=True, removed=("t9",)))
    assert heard == [("role", "manager")]
    assert sink.applied == [(True, 0, ("t9",))]


def test_a_failing_hook_is_logged_and_the_frame_still_reaches_the_worker() -> None:
    def broken(_: Any) -> None:
        raise RuntimeError("renewer gone")

    sink = Sink()
    frames = applier(sink, [], role=broken)
    frames.apply(frame(role="worker"))
    assert sink.applied == [(False, 0, ())]


def test_a_worker_that_fails_to_take_assignments_ends_the_session() -> None:
    with pytest.raises(SessionEnded, match="the worker failed to take assignments"):
        applier(Sink(fail=True), []).apply(frame())


def test_a_heartbeat_reply_names_the_role_and_the_trust() -> None:
    heard: list[tuple[str, Any]] = []
    frames = applier(Sink(), heard)
    frames.heartbeat_said({"period": 5.0, "frames": 3})
    frames.heartbeat_said({"period": 5.0, "role": "worker", "ca": {"digest": "d"}})
    assert heard == [("role", "worker"), ("ca", {"digest": "d"})]
