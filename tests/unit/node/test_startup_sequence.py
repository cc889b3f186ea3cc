"""The start-up sequence's executor choices (actors/node/startup/sequence.py), without
I/O: a named executor is taken as given, and a process sandbox exists only for the
process executor; ``--process-user`` with another executor is a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.node.config import NodeConfig
from actors.node.startup.sequence import choose_executor, process_sandbox
from actors.worker.executors.process_policy import ProcessUserRefused


def config(tmp_path: Path, process_user: str | None = None) -> NodeConfig:
    return NodeConfig(
        state_dir=tmp_path / "state",
        hostname="h1",
        listen_remote_api="127.0.0.1:0",
        listen_control_api=tmp_path / "s.sock",
        advertise_addr="127.0.0.1:4242",
        process_user=process_user,
    )


@pytest.mark.parametrize("kind", ["docker", "process", "sim"])
def test_a_named_executor_is_taken_as_given(kind: str) -> None:
    assert choose_executor(kind) == kind


@pytest.mark.parametrize("kind", ["docker", "sim"])
def test_only_the_process_executor_has_a_sandbox(tmp_path: Path, kind: str) -> None:
    assert process_sandbox(config(tmp_path), kind, "node1") is None
    assert not (tmp_path / "state").exists()


def test_a_process_user_with_another_executor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProcessUserRefused, match="process executor only"):
        process_sandbox(config(tmp_path, process_user="nobody"), "docker", "node1")
