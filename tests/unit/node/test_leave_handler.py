"""The ``control.cluster.leave`` handler (actors/node/leaving.py) over a stand-in runner:
a refusal never hands the leave on; a leave the runner cannot begin is refused; the answer
waits for the runner's outcome and says when it went out; a wipe keeps only the lock and
live sockets."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from actors.node.leaving import (
    LeaveDesk,
    LeaveOutcome,
    LeaveRefused,
    LeaveRequest,
    leave_handler,
    remove_executor_tasks,
    wipe_swarm_state,
)
from actors.worker.executors.base import EngineUnavailableError


class FakeRequest:
    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.errors: list[tuple[str, str]] = []
        self.replies: list[Mapping[str, Any]] = []

    def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))

    def reply(self, body: Mapping[str, Any]) -> None:
        self.replies.append(body)


def handler(begin: Any, refusal: Any = lambda _force: None, timeout: float = 5.0) -> Any:
    return leave_handler(begin, refusal, timeout)["control.cluster.leave"]


def test_a_refused_leave_is_never_handed_to_the_runner() -> None:
    begun: list[bool] = []
    leave = handler(begun.append, refusal=lambda force: None if force else "a manager")
    request = FakeRequest({})
    assert leave(request) is None
    assert request.errors == [("unavailable", "a manager")] and begun == []


def test_a_leave_the_runner_cannot_begin_is_refused() -> None:
    def begin(_force: bool) -> LeaveRequest:
        raise LeaveRefused("this node is already leaving the swarm")

    request = FakeRequest({"force": True})
    handler(begin)(request)
    assert request.errors == [("unavailable", "this node is already leaving the swarm")]


def test_the_answer_waits_for_the_outcome_and_says_it_went_out() -> None:
    pending: list[LeaveRequest] = []

    def begin(force: bool) -> LeaveRequest:
        request = LeaveRequest(force)
        request.outcome.set_result(LeaveOutcome("n1", ("keys", "node_id")))
        pending.append(request)
        return request

    request = FakeRequest({"force": True})
    handler(begin)(request)
    assert request.replies == [{"node_id": "n1", "removed": ["keys", "node_id"]}]
    assert pending[0].force and pending[0].replied.is_set()


def test_a_failed_leave_is_answered_with_why() -> None:
    def begin(force: bool) -> LeaveRequest:
        request = LeaveRequest(force)
        request.outcome.set_exception(OSError("disk gone"))
        return request

    request = FakeRequest({})
    handler(begin)(request)
    assert request.errors == [("unavailable", "leaving the swarm failed: disk gone")]


def test_the_wipe_keeps_only_the_lock_and_live_sockets(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "keys").mkdir(parents=True)
    (state / "keys" / "curve.key").write_text("secret")
    (state / "node_id").write_text("n1")
    (state / "lock").write_text("")
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(state / "swarm.sock"))
    tasks = tmp_path / "tasks" / "n1"
    (tasks / "t1").mkdir(parents=True)
    try:
        removed = wipe_swarm_state(state, [tasks, tmp_path / "absent"])
    finally:
        live.close()
    assert removed == ["keys", "node_id", str(tasks)]
    assert sorted(p.name for p in state.iterdir()) == ["lock", "swarm.sock"]
    assert not tasks.exists()


def test_the_desk_takes_one_leave_and_none_while_stopping() -> None:
    woken: list[bool] = []
    stopping = [False]
    desk = LeaveDesk(lambda: woken.append(True), lambda: stopping[0])
    first = desk.begin(True)
    assert desk.pending is first and first.force and woken == [True]
    with pytest.raises(LeaveRefused, match="already leaving"):
        desk.begin(True)
    stopping[0] = True
    with pytest.raises(LeaveRefused, match="stopping"):
        LeaveDesk(lambda: None, lambda: stopping[0]).begin(False)


class _EngineDown:
    """An executor whose engine does not answer, or answers for one task only."""

    def __init__(self, listing: bool) -> None:
        self.listing = listing
        self.removed: list[tuple[str, bool]] = []

    def list_tasks(self) -> dict[str, str]:
        if not self.listing:
            raise EngineUnavailableError("cannot connect to the Docker engine")
        return {"t1": "c1", "t2": "c2"}

    def remove_orphan(self, task_id: str, *, kill: bool = False) -> None:
        if task_id == "t1":
            raise EngineUnavailableError("remove container: timed out")
        self.removed.append((task_id, kill))


def test_a_runtime_that_cannot_remove_the_tasks_does_not_stop_the_leave() -> None:
    """The leave kills what the executor still holds; an engine that is down (or fails
    one removal) is logged, and the leave goes on to wipe the state: the node must be
    able to leave, as Docker's does."""
    remove_executor_tasks(_EngineDown(listing=False))  # type: ignore[arg-type]
    partly = _EngineDown(listing=True)
    remove_executor_tasks(partly)  # type: ignore[arg-type]
    assert partly.removed == [("t2", True)]  # killed, not stopped with a grace period
