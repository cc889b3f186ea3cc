"""A signal sent to a process task's group once the shim that runs it has its handlers in
place but before its command runs stops the command, as a later one would: the shim
passes an early signal on to the command once it is started. Before, the shim ignored it
and the command ran on (a stop right after start was lost)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from actors.worker.executors.base import RuntimeState
from actors.worker.executors.process import SHIM, ProcessExecutor
from tests.integration.test_worker_process import sandbox
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import make_task

TERMINATED = 128 + signal.SIGTERM


def _catches_term(pid: int) -> bool:
    """The shim's handlers are in place: SIGTERM is in its caught set (/proc status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_a_signal_before_the_command_runs_is_passed_on(tmp_path: Path) -> None:
    """The group is signalled while the shim, its handlers in place, still waits for its
    launch settings: the command it then starts gets the signal."""
    exit_file = tmp_path / "task.exit"
    shim = subprocess.Popen(
        [sys.executable, "-I", str(SHIM), str(exit_file), "--", "sleep", "300"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _catches_term(shim.pid), "the shim's handlers in place")
        shim.send_signal(signal.SIGTERM)  # the group is only the shim yet
        assert shim.stdin is not None
        with shim.stdin:
            shim.stdin.write(json.dumps({"log": {"path": str(tmp_path / "log")}}).encode())
        assert shim.wait(timeout=60) == TERMINATED
        assert exit_file.read_text() == f"{TERMINATED}\n\n"
    finally:
        if shim.poll() is None:
            shim.kill()


def test_a_task_signalled_at_once_after_start_ends_with_the_signal(tmp_path: Path) -> None:
    executor = ProcessExecutor(tmp_path / "process", sandbox=sandbox(tmp_path))
    controller = executor.controller(make_task("early", command=("sleep", "300")))
    controller.prepare()
    controller.start()
    try:
        os.killpg(controller.inspect().pid, signal.SIGTERM)
        ended = wait_for(
            lambda: (seen := controller.inspect()).state is RuntimeState.EXITED and seen,
            "the task ended by its signal",
        )
        assert ended.exit_code == TERMINATED
    finally:
        controller.remove()
