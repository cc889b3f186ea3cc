from __future__ import annotations

import pytest

from api.task_state import TaskState, can_transition, is_terminal, parse_task_state

ORDER = [
    "NEW", "PENDING", "ASSIGNED", "ACCEPTED", "PREPARING", "READY", "STARTING", "RUNNING",
    "COMPLETE", "SHUTDOWN", "FAILED", "REJECTED", "REMOVE", "ORPHANED",
]  # fmt: skip


def test_values_match_swarmkit() -> None:
    assert [s.name for s in TaskState] == ORDER
    assert int(TaskState.PENDING) == 64
    assert int(TaskState.ASSIGNED) == 192
    assert int(TaskState.RUNNING) == 512
    assert int(TaskState.REMOVE) == 800
    assert int(TaskState.ORPHANED) == 832


def test_states_only_move_forward() -> None:
    states = list(TaskState)
    for i, a in enumerate(states):
        for j, b in enumerate(states):
            assert can_transition(a, b) == (j > i)


def test_terminal_states() -> None:
    assert [s.name for s in TaskState if is_terminal(s)] == ORDER[8:]
    assert not TaskState.RUNNING.is_terminal
    assert TaskState.FAILED.is_terminal


def test_labels_are_lower_case() -> None:
    assert TaskState.RUNNING.label == "running"
    assert str(TaskState.SHUTDOWN) == "shutdown"
    assert parse_task_state("Running") is TaskState.RUNNING
    with pytest.raises(ValueError, match="unknown task state 'runing'"):
        parse_task_state("runing")


def test_manager_owned_states() -> None:
    assert [s.name for s in TaskState if s.manager_owned] == ["NEW", "PENDING", "ASSIGNED"]
