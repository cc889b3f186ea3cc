"""A node that begins to stop calls ``on_stopping`` (swarm-node arms its exit deadline),
after a failed start too."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.node.config import NodeConfig
from actors.node.runner import NodeRunner


def _runner(tmp_path: Path, stopping: list[str]) -> NodeRunner:
    config = NodeConfig(
        state_dir=tmp_path / "state",
        hostname="h1",
        listen_remote_api="127.0.0.1:0",
        listen_control_api=tmp_path / "s.sock",
        advertise_addr="127.0.0.1:4242",
    )
    return NodeRunner(config, on_stopping=lambda: stopping.append("deadline armed"))


def test_a_failed_start_arms_the_stop_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopping: list[str] = []
    runner = _runner(tmp_path, stopping)
    monkeypatch.setattr(runner, "_start_up", lambda: (None, None))

    def fail(*_: object) -> None:
        raise TimeoutError("worker did not start within 10.0s")

    monkeypatch.setattr(runner, "_start_tree", fail)
    with pytest.raises(TimeoutError, match="worker did not start"):
        runner.run()
    assert stopping == ["deadline armed"]


def test_a_requested_stop_arms_the_stop_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopping: list[str] = []
    runner = _runner(tmp_path, stopping)
    monkeypatch.setattr(runner, "_start_up", lambda: (None, None))
    monkeypatch.setattr(runner, "_start_tree", lambda *_: None)
    monkeypatch.setattr(runner, "_log_started", lambda *_: None)
    runner.request_stop("SIGTERM")
    assert runner.run() == 0
    assert stopping == ["deadline armed"]
