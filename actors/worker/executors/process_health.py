"""The process executor's healthchecks: one thread per task that has one, running its
check as the task would run (its user, environment and working directory, a process
group of its own) on the schedule ``health`` decides.

Rules:
- A monitor starts with its task (or when a restarted worker adopts a running one) and
  ends when its task is shut down, removed or no longer alive. It belongs to the executor,
  not to a task's controller, so a task runner that restarts finds it running.
- Its state is kept in ``<task>.health`` (0600, written durably after each check), so a
  worker that restarted carries on with the same status, streak and log.
- A check that runs past its timeout has its process group killed. Its output is kept in
  a temporary file while it runs; only the first ``health.OUTPUT_BYTES`` are read.
- A monitor that fails (a bug, not a failing check) makes its task unhealthy with the
  error as output, so the task is replaced and the failure seen, never a silent stop.
- When its task turns unhealthy the monitor calls ``on_unhealthy`` (the executor wakes
  the task's wait with it: process_reaper.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from actors.durable import write_durable
from actors.worker.executors.base import Health
from actors.worker.executors.health import (
    OUTPUT_BYTES,
    TIMED_OUT,
    HealthPolicy,
    HealthState,
    ProbeResult,
    after_probe,
    next_probe_at,
)

__all__ = ["HealthMonitor", "HealthMonitors", "ProbeLauncher", "load_health", "run_probe"]

ProbeLauncher = Callable[[HealthPolicy], ProbeResult]


def run_probe(
    policy: HealthPolicy,
    *,
    env: Mapping[str, str],
    cwd: str,
    user: tuple[int, int, tuple[int, ...]] | None,
    clock: Callable[[], float] = time.time,
) -> ProbeResult:
    """Run the check once; its exit code (``TIMED_OUT`` when killed) and output."""
    start = clock()
    ids: dict[str, Any] = {}
    if user is not None:
        ids = {"user": user[0], "group": user[1], "extra_groups": list(user[2])}
    with tempfile.TemporaryFile() as out:
        try:
            child = subprocess.Popen(
                list(policy.argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **ids,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            message = f'exec: "{policy.argv[0]}": {getattr(exc, "strerror", None) or exc}'
            return ProbeResult(start, clock(), 127, message)
        try:
            code = child.wait(timeout=policy.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return ProbeResult(
                start, clock(), TIMED_OUT, f"Health check exceeded timeout ({policy.timeout:g}s)"
            )
        out.seek(0)
        output = out.read(OUTPUT_BYTES).decode("utf-8", "replace")
    return ProbeResult(start, clock(), code, output)


def load_health(path: Path) -> HealthState:
    """The state kept in ``path``; a fresh one when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text())
        return HealthState(
            status=Health(data["status"]),
            failing_streak=int(data["failing_streak"]),
            log=tuple(ProbeResult(**entry) for entry in data["log"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return HealthState()


def _save(path: Path, state: HealthState) -> None:
    document = {
        "status": state.status.value,
        "failing_streak": state.failing_streak,
        "log": [asdict(entry) for entry in state.log],
    }
    write_durable(path, json.dumps(document).encode())


class HealthMonitor:
    """Checks one task on a thread of its own (see the module rules)."""

    def __init__(
        self,
        task_id: str,
        policy: HealthPolicy,
        *,
        probe: ProbeLauncher,
        alive: Callable[[], bool],
        task_started: float,
        state_file: Path,
        clock: Callable[[], float] = time.time,
        on_unhealthy: Callable[[], None] | None = None,
    ) -> None:
        self.task_id = task_id
        self._on_unhealthy = on_unhealthy
        self._policy = policy
        self._probe = probe
        self._alive = alive
        self._task_started = task_started
        self._state_file = state_file
        self._clock = clock
        self._state = load_health(state_file)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"health-{task_id[:12]}", daemon=True
        )

    def start(self) -> HealthMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def state(self) -> HealthState:
        with self._lock:
            return self._state

    def _run(self) -> None:
        try:
            self._check_until_stopped()
        except Exception as exc:  # a check that cannot run fails the task, visibly
            failed = ProbeResult(self._clock(), self._clock(), 126, f"healthcheck failed: {exc}")
            with self._lock:
                self._state = HealthState(Health.UNHEALTHY, self._state.failing_streak, (failed,))
            self._unhealthy()

    def _unhealthy(self) -> None:
        if self._on_unhealthy is not None:
            self._on_unhealthy()

    def _check_until_stopped(self) -> None:
        while not self._stop.is_set():
            due = next_probe_at(self.state(), self._policy, self._task_started)
            if self._stop.wait(max(0.0, due - self._clock())) or not self._alive():
                return
            result = self._probe(self._policy)
            if self._stop.is_set():
                return  # stopped meanwhile: the task is going away, its result with it
            with self._lock:
                before = self._state.status
                self._state = after_probe(self._state, self._policy, result, self._task_started)
                state = self._state
            with contextlib.suppress(OSError):  # kept in memory; the next check writes again
                _save(self._state_file, state)
            if state.status is Health.UNHEALTHY and before is not Health.UNHEALTHY:
                self._unhealthy()


class HealthMonitors:
    """The executor's running monitors, one per task (they outlive a task's controller)."""

    def __init__(self) -> None:
        self._monitors: dict[str, HealthMonitor] = {}
        self._lock = threading.Lock()

    def ensure(self, task_id: str, make: Callable[[], HealthMonitor]) -> HealthMonitor:
        """The task's running monitor, or a new one from ``make``, started."""
        with self._lock:
            monitor = self._monitors.get(task_id)
            if monitor is None or not monitor.running:
                monitor = self._monitors[task_id] = make().start()
            return monitor

    def stop(self, task_id: str) -> None:
        with self._lock:
            monitor = self._monitors.pop(task_id, None)
        if monitor is not None:
            monitor.stop()
