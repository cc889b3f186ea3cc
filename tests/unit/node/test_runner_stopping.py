"""A node that begins to stop calls ``on_stopping`` with its tree's stop bound (swarm-node
arms its exit deadline from it), after a failed start too."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from actors.node.config import NodeConfig
from actors.node.runner import NodeRunner
from actors.node.tree.node import Node, NodeParts
from cli.node_main import MIN_STOP_DEADLINE, STOP_DEADLINE_MARGIN, stop_deadline


def _runner(tmp_path: Path, stopping: list[float | None]) -> NodeRunner:
    config = NodeConfig(
        state_dir=tmp_path / "state",
        hostname="h1",
        listen_remote_api="127.0.0.1:0",
        listen_control_api=tmp_path / "s.sock",
        advertise_addr="127.0.0.1:4242",
    )
    return NodeRunner(config, on_stopping=stopping.append)


def test_a_failed_start_arms_the_stop_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopping: list[float | None] = []
    runner = _runner(tmp_path, stopping)
    monkeypatch.setattr(runner, "_start_up", lambda: (None, None))

    def fail(*_: object) -> None:
        raise TimeoutError("worker did not start within 10.0s")

    monkeypatch.setattr(runner, "_start_tree", fail)
    with pytest.raises(TimeoutError, match="worker did not start"):
        runner.run()
    assert stopping == [None]  # armed; no tree was built


def test_a_requested_stop_arms_the_stop_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopping: list[float | None] = []
    runner = _runner(tmp_path, stopping)
    monkeypatch.setattr(runner, "_start_up", lambda: (None, None))
    monkeypatch.setattr(runner, "_start_tree", lambda *_: None)
    monkeypatch.setattr(runner, "_log_started", lambda *_: None)
    runner.request_stop("SIGTERM")
    assert runner.run() == 0
    assert stopping == [None]  # armed; no tree was built


def test_a_stop_after_the_tree_was_built_arms_the_deadline_with_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopping: list[float | None] = []
    runner = _runner(tmp_path, stopping)
    monkeypatch.setattr(runner, "_start_up", lambda: (None, None))
    node = Node(runner.config, cast(NodeParts, None))  # built, its start cut short

    def built(*_: object) -> bool:
        runner.node = node
        return False

    monkeypatch.setattr(runner, "_start_tree", built)
    runner.request_stop("SIGTERM")
    assert runner.run() == 0
    assert stopping == [node.stop_timeout]


def test_the_process_deadline_outlasts_the_trees_own_stop_bound() -> None:
    # fails before: 15 s, while a manager tree's stop may take about 125 s and Node.stop
    # waits for it; the process ended with exit 1 in the middle of a bounded stop
    assert stop_deadline(125.0) > 125.0
    assert stop_deadline(125.0) == 125.0 + STOP_DEADLINE_MARGIN
    assert stop_deadline(None) == MIN_STOP_DEADLINE  # nothing built: nothing to wait for
    assert stop_deadline(1.0) == MIN_STOP_DEADLINE
