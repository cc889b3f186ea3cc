"""A signal sent to a process task's group at once after it started (before the shim that
runs it has its handlers in place, or before the command runs) stops the command, as a
later one would: the shim starts with its signals blocked and passes an early one on to
the command. Before, the shim could die of it without recording an exit code, the
command never ran, and the task failed as ``non-zero exit (137): killed``
(test_restarted_worker_readopts_the_process failed now and then for this)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from actors.worker.executors.process import ProcessExecutor
from actors.worker.executors.process_launch import launch_shim
from tests.integration.test_worker_process import sandbox
from tests.unit.worker.helpers import make_task

TERMINATED = 128 + signal.SIGTERM


def test_a_signal_before_the_command_runs_is_passed_on(tmp_path: Path) -> None:
    """The group is signalled before the shim even has its launch settings: whatever the
    shim was doing then, the command it starts gets the signal."""
    exit_file = tmp_path / "task.exit"
    log = os.open(tmp_path / "task.log", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        shim = launch_shim(exit_file, ["sleep", "300"], log)
    finally:
        os.close(log)
    os.killpg(shim.pid, signal.SIGTERM)
    assert shim.stdin is not None
    with shim.stdin:
        shim.stdin.write(b"{}")
    assert shim.wait(timeout=60) == TERMINATED
    assert exit_file.read_text() == f"{TERMINATED}\n\n"


def test_a_task_signalled_at_once_after_start_ends_with_the_signal(tmp_path: Path) -> None:
    executor = ProcessExecutor(tmp_path / "process", sandbox=sandbox(tmp_path))
    controller = executor.controller(make_task("early", command=("sleep", "300")))
    controller.prepare()
    controller.start()
    os.killpg(controller.inspect().pid, signal.SIGTERM)
    ended = controller.wait()
    assert (ended.exit_code, ended.message) == (TERMINATED, "")
    controller.remove()
