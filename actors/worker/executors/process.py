"""The process executor: a task's command and args as a local process group, for machines
without Docker.

Rules:
- The image is only recorded (status message, state file); the command + args are run
  (there is no image to read a default command from, so a task without one is refused,
  below).
- A task is not the node (``process_policy``, ``process_sandbox``): it gets the spec's env
  over a minimal ``PATH``/``HOME`` only, its own directory outside the state dir as working
  dir and ``HOME`` (the spec's ``dir`` instead when given), and, on a node running as
  root, the sandbox's unprivileged user.
- Each task runs under ``process_shim.py`` in a new session: the shim leads the process
  group, drops to the task user for the command and writes the command's exit code to
  ``<task>.exit``. The shim records the command's stdout and stderr, line by line with
  their times, in ``<task>.log``, rotated at ``log_max_bytes`` keeping ``log_max_files``
  files (process_shim.py; read back by process_logs.py).
- ``<task>.json`` in ``STATE_DIR`` records the argv, image, pid and the pid's start time
  (``/proc/<pid>/stat`` field 22). Every file here is 0600 (state and exit files written
  atomically), the directory 0700. A worker that restarted re-adopts a
  group whose leader still has that pid and start time (a reused pid never matches) and
  polls ``/proc`` for it, since it is not our child.
- A task's secrets and configs are files on a tmpfs (actors/worker/task_files.py), in
  directories of the task user's named by ``$SWARM_SECRETS_DIR`` and ``$SWARM_CONFIGS_DIR``;
  written in ``prepare``, removed once the process ended and in ``remove``.
- shutdown: stop signal (default SIGTERM) to the group, the grace period, then SIGKILL.
- ``--health-cmd`` runs with Docker's semantics (``health``, ``process_health``): the task
  is RUNNING once healthy, and a task that turns unhealthy is stopped and fails with the
  check's output.
- A running task is waited on by the executor's one reaper (process_reaper.py: a pidfd
  per process, one thread for all); its health monitor wakes the wait when the task
  turns unhealthy. ``watch`` looks at the task once after it began (a process that ended
  before is noticed at once).
- What a process cannot be given is refused (REJECTED, saying why), never ignored: a user,
  a hostname, labels, limits, published ports, mounts, networks, an image's default
  command... (``process_policy.refused_fields``; the scheduler places such tasks on
  nodes whose executor can run them, so a process node sees them only from an older
  manager).
- OS errors are mapped to ``executors.base`` errors at the edge.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from actors.ca.node_identity import ensure_private_dir
from actors.descriptors import child_descriptor_limit
from actors.durable import write_durable
from actors.worker.executors.base import (
    ContainerNotFoundError,
    EngineError,
    ExitNotify,
    ExitResult,
    Health,
    InvalidTaskError,
    Observation,
    Progress,
    RuntimeState,
    StartError,
)
from actors.worker.executors.docker_config import stop_signal_name
from actors.worker.executors.health import HealthPolicy, health_policy
from actors.worker.executors.output import OutputQuery, OutputStream
from actors.worker.executors.process_health import HealthMonitor, HealthMonitors, run_probe
from actors.worker.executors.process_logs import (
    DEFAULT_LOG_FILES,
    DEFAULT_LOG_MAX_BYTES,
    ProcessOutput,
    log_files,
    read_text,
)
from actors.worker.executors.process_policy import MINIMAL_PATH, refused_fields, task_environment
from actors.worker.executors.process_reaper import ProcessReaper
from actors.worker.executors.process_sandbox import ProcessSandbox, ProcessSandboxError
from actors.worker.task_files import TaskFiles
from api.objects import NodeDescription, Task
from api.templates import TemplateError, expand_task

__all__ = ["ProcessController", "ProcessExecutor", "process_start_ticks"]

SHIM = Path(__file__).with_name("process_shim.py")
POLL = 0.1  # seconds between /proc checks while a stopped task's group ends
SHIM_READY_TIMEOUT = 10.0
KILLED = 128 + signal.SIGKILL


def process_start_ticks(pid: int) -> int | None:
    """The start time of a live (non-zombie) ``pid`` in clock ticks, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _await_ready(child: subprocess.Popen[bytes], timeout: float = SHIM_READY_TIMEOUT) -> None:
    """Return once the shim says its signal handlers are in place (a stop signal sent
    before then would end the shim itself, not the command), it died, or ``timeout``
    passed (a slow start is for ``wait`` and ``inspect`` to tell)."""
    pipe = child.stdout
    if pipe is None:
        return
    with pipe:
        ready, _, _ = select.select([pipe], [], [], timeout)
        if ready:
            pipe.read(1)  # a newline, or nothing when the shim ended first


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_durable(path, json.dumps(data).encode())


class ProcessController:
    def __init__(self, executor: ProcessExecutor, task: Task) -> None:
        self._executor = executor
        self._template_error = ""
        try:
            task = expand_task(task, executor.description)  # its templates, for this node
        except TemplateError as exc:
            self._template_error = str(exc)
        self._task = task
        self._watch: int | None = None  # the key of this controller's watch
        self._watch_lock = threading.Lock()  # _watch: set by watch, cancelled by close
        spec = task.spec.container
        self.argv = [*spec.command, *spec.args]
        self.sandbox = executor.sandbox
        self.home = str(self.sandbox.task_dir(task.id))
        self.env = task_environment(spec.env, self.home)
        self.files = executor.files
        self.files_error = ""
        self.has_files = bool(spec.secrets or spec.configs)
        if self.has_files and self.files is None:
            self.files_error = "this executor keeps no secret or config files"
        elif self.has_files and self.files is not None:
            try:
                self.env.update(self.files.layout(task).environment())
            except InvalidTaskError as exc:
                self.files_error = str(exc)
        self.workdir = spec.dir or self.home
        self.grace = max(0.0, spec.stop_grace_period)
        try:
            name = stop_signal_name(spec.stop_signal) or "SIGTERM"
            self.stop_signal: signal.Signals | None = signal.Signals[name]
        except (ValueError, KeyError):
            self.stop_signal = None
        base = executor.state_dir / task.id
        self.state_file = base.with_suffix(".json")
        self.exit_file = base.with_suffix(".exit")
        self.log_file = base.with_suffix(".log")
        self.health_file = base.with_suffix(".health")
        try:
            self.health: HealthPolicy | None = health_policy(spec.healthcheck)
            self._health_error = ""
        except ValueError as exc:
            self.health, self._health_error = None, str(exc)

    # -- state --------------------------------------------------------------------------
    def _record(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.state_file.read_text())
            return data
        except (OSError, ValueError):
            return None

    def _exit_code(self) -> tuple[int, str] | None:
        try:
            first, _, rest = self.exit_file.read_text().partition("\n")
            return int(first), rest.strip()
        except (OSError, ValueError):
            return None

    def _alive(self, record: Mapping[str, Any]) -> bool:
        pid = int(record.get("pid") or 0)
        child = self._executor.child(self._task.id)
        if child is not None and child.pid == pid:
            return child.poll() is None
        return pid > 0 and process_start_ticks(pid) == record.get("start_ticks")

    def _finished_code(self, pid: int) -> tuple[int, str]:
        recorded = self._exit_code()
        if recorded is not None:
            return recorded
        child = self._executor.child(self._task.id)
        if child is not None and child.pid == pid and child.returncode is not None:
            code = child.returncode
            return (128 - code if code < 0 else code), ""
        return KILLED, "killed"

    def inspect(self) -> Observation:
        record = self._record()
        if record is None:
            return Observation(RuntimeState.MISSING)
        pid = int(record.get("pid") or 0)
        if pid == 0:
            return Observation(RuntimeState.CREATED)
        started = str(record.get("started_at", ""))
        if self._alive(record):
            health, output = self._health_now(record)
            return Observation(
                RuntimeState.RUNNING,
                container_id=str(pid),
                pid=pid,
                started_at=started,
                health=health,
                health_output=output,
            )
        code, error = self._finished_code(pid)
        return Observation(
            RuntimeState.EXITED,
            container_id=str(pid),
            exit_code=code,
            started_at=started,
            error=error,
        )

    # -- health -------------------------------------------------------------------------
    def _monitor(self, record: Mapping[str, Any]) -> HealthMonitor | None:
        """The task's health monitor, started when the task runs (or was adopted running)."""
        policy = self.health
        if policy is None:
            return None
        sandbox_user = self.sandbox.user
        user = (
            (sandbox_user.uid, sandbox_user.gid, sandbox_user.groups)
            if sandbox_user is not None
            else None
        )
        return self._executor.health_monitors.ensure(
            self._task.id,
            lambda: HealthMonitor(
                self._task.id,
                policy,
                probe=lambda p: run_probe(p, env=self.env, cwd=self.workdir, user=user),
                alive=lambda: self._alive(record),
                task_started=float(record.get("started_at") or time.time()),
                state_file=self.health_file,
                on_unhealthy=lambda: self._executor.reaper.wake_task(self._task.id),
            ),
        )

    def _health_now(self, record: Mapping[str, Any]) -> tuple[Health, str]:
        monitor = self._monitor(record)
        if monitor is None:
            return Health.NONE, ""
        state = monitor.state()
        return state.status, state.output

    # -- actions ------------------------------------------------------------------------
    def prepare(self, progress: Progress | None = None) -> None:
        refusal = refused_fields(self._task.spec, self.sandbox.user_names())
        if refusal is not None or self._health_error or self._template_error:
            raise InvalidTaskError(refusal or self._health_error or self._template_error)
        if self.stop_signal is None:
            raise InvalidTaskError(f"unknown stop signal {self._task.spec.container.stop_signal!r}")
        program = self.argv[0]
        if "/" in program:
            found = program if os.access(program, os.X_OK) and os.path.isfile(program) else None
        else:
            found = shutil.which(program, path=self.env.get("PATH"))
        if found is None:
            raise InvalidTaskError(f'exec: "{program}": executable file not found')
        if self._task.spec.container.dir:
            refused = self.sandbox.check_workdir(self._task.spec.container.dir)
            if refused is not None:
                raise InvalidTaskError(refused)
        if self.files_error:
            raise InvalidTaskError(self.files_error)
        self._create_task_dir()
        if self.has_files and self.files is not None:
            user = self.sandbox.user
            self.files.prepare(self._task, (user.uid, user.gid) if user is not None else None)
        if self._record() is None:
            try:
                _write_json(self.state_file, self._base_record())
            except OSError as exc:
                raise EngineError(f"cannot write {self.state_file}: {exc}") from exc

    def _create_task_dir(self) -> None:
        try:
            self.sandbox.create_task_dir(self._task.id)
        except (OSError, ProcessSandboxError) as exc:
            raise EngineError(f"cannot create the task's directory {self.home}: {exc}") from exc

    def _launch_settings(self) -> bytes:
        user = self.sandbox.user
        executor = self._executor
        return json.dumps(
            {
                "env": self.env,
                "cwd": self.workdir,
                "user": [user.uid, user.gid, list(user.groups)] if user is not None else None,
                "nofile": child_descriptor_limit(),
                "log": {
                    "path": str(self.log_file),
                    "max_bytes": executor.log_max_bytes,
                    "max_files": executor.log_max_files,
                },
            }
        ).encode()

    def _base_record(self) -> dict[str, Any]:
        return {"argv": self.argv, "image": self._task.spec.container.image, "pid": 0}

    def start(self) -> None:
        record = self._record() or self._base_record()
        if int(record.get("pid") or 0):
            return  # started already
        with contextlib.suppress(FileNotFoundError):
            self.exit_file.unlink()
        self._create_task_dir()  # again: a tmp cleaner may have removed it since prepare
        try:
            # the shim gets no task settings in its own environment (module docstring); it
            # writes the task's output to the log itself
            child = subprocess.Popen(
                [sys.executable, "-I", str(SHIM), str(self.exit_file), "--", *self.argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # one byte: the shim is ready (_await_ready)
                stderr=subprocess.DEVNULL,
                env={"PATH": MINIMAL_PATH},
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise StartError(f"starting process failed: {exc}") from exc
        self._executor.adopt_child(self._task.id, child)
        assert child.stdin is not None
        # a shim that died before reading shows as exited; wait() reports its code
        with contextlib.suppress(BrokenPipeError), child.stdin:
            child.stdin.write(self._launch_settings())
        record.update(
            pid=child.pid, start_ticks=process_start_ticks(child.pid), started_at=time.time()
        )
        with contextlib.suppress(FileNotFoundError):
            self.health_file.unlink()  # a check's state from an earlier start
        try:
            _write_json(self.state_file, record)
        except OSError as exc:
            raise EngineError(f"cannot write {self.state_file}: {exc}") from exc
        _await_ready(child)
        self._monitor(record)

    def _pid(self) -> int:
        record = self._record()
        if record is None:
            raise ContainerNotFoundError(f"no process for task {self._task.id}")
        return int(record.get("pid") or 0)

    def watch(self, notify: ExitNotify) -> None:
        record = self._record()
        if record is None:
            raise ContainerNotFoundError(f"no process for task {self._task.id}")
        reaper = self._executor.reaper
        key = reaper.add(
            self._task.id, int(record.get("pid") or 0), lambda: self._alive(record), notify
        )
        with self._watch_lock:
            previous, self._watch = self._watch, key
        if previous is not None:
            reaper.cancel(previous)
        if not self._alive(record) or self._health_now(record)[0] is Health.UNHEALTHY:
            reaper.wake(key)  # it ended, or turned unhealthy, before the watch began

    def exit_result(self) -> ExitResult | None:
        record = self._record()
        if record is None:
            raise ContainerNotFoundError(f"no process for task {self._task.id}")
        pid = int(record.get("pid") or 0)
        if self._alive(record):
            health, output = self._health_now(record)
            if health is not Health.UNHEALTHY:
                return None
            self.shutdown()
            code, _ = self._finished_code(pid)
            return ExitResult(exit_code=code, unhealthy=True, health_output=output)
        self._release_files()
        code, error = self._finished_code(pid)
        return ExitResult(exit_code=code, message=error)

    def _release_files(self) -> None:
        if self.files is not None:
            self.files.release(self._task.id)

    def _signal(self, signum: int) -> bool:
        """Signal the task's group; False when it is not running."""
        record = self._record()
        if record is None or not self._alive(record):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(record["pid"]), signum)
        return True

    def _wait_dead(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        record = self._record()
        while record is not None and self._alive(record):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True

    def shutdown(self) -> None:
        self._executor.health_monitors.stop(self._task.id)
        signum = self.stop_signal or signal.SIGTERM
        if not self._signal(signum) or self._wait_dead(self.grace):
            self._release_files()
            return
        self.terminate()

    def terminate(self) -> None:
        self._executor.health_monitors.stop(self._task.id)
        if self._signal(signal.SIGKILL):
            self._wait_dead(5.0)
        self._release_files()

    def remove(self) -> None:
        self.terminate()
        for path in (self.state_file, self.exit_file, self.health_file, *log_files(self.log_file)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        try:
            self.sandbox.remove_task_dir(self._task.id)
        except OSError as exc:
            raise EngineError(f"cannot remove the task's directory {self.home}: {exc}") from exc
        self._release_files()
        self._executor.forget_child(self._task.id)

    def logs(self) -> bytes:
        return read_text(self.log_file).encode()

    def output(self, query: OutputQuery) -> OutputStream:
        """The task's output from its log files (process_logs.py); a follow ends once the
        process has exited and its log is read."""
        return ProcessOutput(self.log_file, query, finished=self._exited)

    def _exited(self) -> bool:
        record = self._record()
        return record is None or (int(record.get("pid") or 0) > 0 and not self._alive(record))

    def close(self) -> None:
        with self._watch_lock:
            key, self._watch = self._watch, None
        if key is not None:
            self._executor.reaper.cancel(key)


class ProcessExecutor:
    """Local process groups for this node's tasks; state kept in ``state_dir``, tasks run
    in ``sandbox`` (`process_sandbox.prepare_sandbox`)."""

    name: ClassVar[str] = "process"
    prepare_refuses_started: ClassVar[bool] = False  # prepare adopts what it finds

    def __init__(
        self,
        state_dir: Path,
        node_id: str = "",
        *,
        sandbox: ProcessSandbox,
        log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
        log_max_files: int = DEFAULT_LOG_FILES,
        files: TaskFiles | None = None,
        description: NodeDescription | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.node_id = node_id
        self.description = description  # this node's, for tasks' templates
        self.sandbox = sandbox
        self.log_max_bytes = log_max_bytes  # a task's log is rotated at this size
        self.log_max_files = log_max_files  # ... keeping this many files
        self.files = files
        ensure_private_dir(self.state_dir)
        for path in self.state_dir.iterdir():  # files an older version left 0644
            if path.is_file() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self.health_monitors = HealthMonitors()
        self.reaper = ProcessReaper()  # every controller's waits
        self._lock = threading.Lock()

    def controller(self, task: Task) -> ProcessController:
        return ProcessController(self, task)

    def child(self, task_id: str) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self._children.get(task_id)

    def adopt_child(self, task_id: str, child: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._children[task_id] = child

    def forget_child(self, task_id: str) -> None:
        with self._lock:
            self._children.pop(task_id, None)

    def list_tasks(self) -> Mapping[str, str]:
        """Recorded tasks, and tasks with only a directory or files left (pid "0")."""
        found: dict[str, str] = dict.fromkeys(self.sandbox.task_ids(), "0")
        if self.files is not None:
            found.update(dict.fromkeys(self.files.task_ids(), "0"))
        for path in self.state_dir.glob("*.json"):
            try:
                pid = int(json.loads(path.read_text()).get("pid") or 0)
            except (OSError, ValueError):
                pid = 0
            found[path.stem] = str(pid)
        return found

    def remove_orphan(self, task_id: str, *, kill: bool = False) -> None:
        controller = ProcessController(self, Task(id=task_id))
        if not kill:
            controller.shutdown()
        controller.remove()  # kills what still runs
