"""A node restarted with another executor removes what the one before left running
(actors/node/executor_switch.py): real files in a state dir, executors that record."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from actors.node.executor_switch import EXECUTOR_FILE, executor_to_clear, switch_executor
from actors.worker.executors.base import Executor, ExecutorError


class Held:
    """An executor holding ``tasks``; removes them when asked (``kill`` recorded)."""

    name = "held"

    def __init__(self, *tasks: str, broken: bool = False) -> None:
        self.tasks = dict.fromkeys(tasks, "c")
        self.killed: list[str] = []
        self.broken = broken

    def list_tasks(self) -> Mapping[str, str]:
        if self.broken:
            raise ExecutorError("engine not answering")
        return dict(self.tasks)

    def remove_orphan(self, task_id: str, *, kill: bool = False) -> None:
        assert kill
        self.killed.append(task_id)
        del self.tasks[task_id]


class Factory:
    def __init__(self, executor: Held | Exception) -> None:
        self.executor = executor
        self.asked: list[str] = []

    def __call__(self, kind: str) -> Executor:
        self.asked.append(kind)
        if isinstance(self.executor, Exception):
            raise self.executor
        return self.executor  # type: ignore[return-value]


def recorded(state_dir: Path) -> str:
    return (state_dir / EXECUTOR_FILE).read_text()


def test_what_to_clear() -> None:
    assert executor_to_clear(None, "docker") is None  # first start, or an older state dir
    assert executor_to_clear("", "docker") is None
    assert executor_to_clear("docker", "docker") is None
    assert executor_to_clear("docker", "process") == "docker"


def test_a_first_start_records_its_executor_and_removes_nothing(tmp_path: Path) -> None:
    make = Factory(Held("t1"))
    switch_executor(tmp_path, "docker", make)
    assert recorded(tmp_path) == "docker" and make.asked == []
    switch_executor(tmp_path, "docker", make)  # the same again: nothing to do
    assert make.asked == []


def test_a_switch_kills_what_the_executor_before_holds_then_records(tmp_path: Path) -> None:
    (tmp_path / EXECUTOR_FILE).write_text("docker")
    before = Held("t1", "t2")
    make = Factory(before)
    switch_executor(tmp_path, "process", make)
    assert make.asked == ["docker"]
    assert sorted(before.killed) == ["t1", "t2"] and before.tasks == {}
    assert recorded(tmp_path) == "process"


@pytest.mark.parametrize(
    "before", [Held("t1", broken=True), RuntimeError("cannot connect to the engine")]
)
def test_leftovers_that_cannot_be_removed_are_tried_again_at_the_next_start(
    tmp_path: Path, before: Held | Exception
) -> None:
    (tmp_path / EXECUTOR_FILE).write_text("docker")
    make = Factory(before)
    switch_executor(tmp_path, "process", make)  # logged, the node starts all the same
    assert recorded(tmp_path) == "docker"
    make.executor = Held("t1")
    switch_executor(tmp_path, "process", make)
    assert make.asked == ["docker", "docker"] and recorded(tmp_path) == "process"
