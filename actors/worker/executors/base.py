"""The executor seam: what the worker asks of a runtime (Docker, local processes, a
simulation) for one task, and the errors it may answer with.

Rules:
- One ``Controller`` per task, built by ``Executor.controller(task)``. Every call may block
  (the task runner calls them from its own threads, never from an actor others ask).
- A running task is waited on without a thread of its own: ``watch`` returns once the
  executor watches the task (each executor watches all its tasks in one place: one event
  stream, one reaper) and calls the notify later, from the executor's thread, when the
  task may have stopped; ``exit_result`` then says how it ended, or None when it still
  runs (a wake that was not an exit: watch again).
- Calls are idempotent where the runtime allows: ``prepare`` on an existing container,
  ``shutdown``/``terminate`` on a stopped one and ``remove`` on a missing one succeed.
  An executor whose ``prepare_refuses_started`` is true says more: its ``prepare`` of a
  task whose container exists and was started raises ``ContainerExistsError`` (a created,
  never started one it still adopts), so a new task's runner may prepare at once instead of
  inspecting first (controller.py), and a container that exists is still adopted.
- A runtime's own exceptions never cross this seam: each executor maps them at its edge
  to the ``ExecutorError`` subclasses below. ``temporary`` errors are retried with backoff;
  every other error is fatal for the task (the step function in ``controller.py`` decides
  REJECTED or FAILED). Any other exception is a bug and crashes the task runner.
- This module is pure: no runtime, thread or clock imports.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from actors.worker.executors.output import OutputQuery, OutputStream
from api.objects import Task
from api.specs import PortConfig

__all__ = [
    "ContainerExistsError",
    "ContainerNotFoundError",
    "Controller",
    "DependencyPendingError",
    "EngineError",
    "EngineUnavailableError",
    "Executor",
    "ExecutorError",
    "ExitNotify",
    "ExitResult",
    "Health",
    "ImageNotFoundError",
    "InvalidTaskError",
    "Observation",
    "Progress",
    "PullError",
    "RuntimeState",
    "StartError",
]

Progress = Callable[[str], None]  # one line about a long ``prepare`` (an image pull)
# a watch's wake: None, or the exception (not an ExecutorError: a bug) that ended watching
ExitNotify = Callable[[BaseException | None], None]


# --- errors ----------------------------------------------------------------------------


class ExecutorError(Exception):
    """An executor's answer that the task cannot proceed (or not right now)."""

    temporary: ClassVar[bool] = False


class ImageNotFoundError(ExecutorError):
    """The task's image is neither on this node nor in its registry."""


class PullError(ExecutorError):
    """The task's image could not be pulled: the registry wants credentials, refused
    them, or could not be reached (the message says which)."""


class InvalidTaskError(ExecutorError):
    """The runtime refused the task's configuration (bad command, bad user, ...)."""


class StartError(ExecutorError):
    """The runtime could not start the prepared task (its message says why)."""


class ContainerNotFoundError(ExecutorError):
    """The task's container (or process) does not exist (any more)."""


class ContainerExistsError(ExecutorError):
    """``prepare`` found the task's container already started (running or exited): the
    runner inspects it and adopts it as it is."""


class EngineError(ExecutorError):
    """Any other refusal by the runtime; fatal for the task."""


class EngineUnavailableError(ExecutorError):
    """The runtime did not answer (engine down, timeout): retried with backoff."""

    temporary = True


class DependencyPendingError(ExecutorError):
    """Something the task needs from the manager (a network) has not arrived yet: a
    worker that just restarted gets it with its next session; retried with backoff."""

    temporary = True


# --- observations ----------------------------------------------------------------------


class RuntimeState(enum.StrEnum):
    MISSING = "missing"  # nothing exists for the task
    CREATED = "created"  # prepared, never started (or its start failed)
    RUNNING = "running"
    EXITED = "exited"


class Health(enum.StrEnum):
    NONE = "none"  # no healthcheck: running counts as healthy
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class Observation:
    """What ``Controller.inspect`` sees of a task's container or process."""

    state: RuntimeState
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0
    health: Health = Health.NONE
    started_at: str = ""  # runtime-specific start stamp, for diagnostics and tests
    error: str = ""  # the runtime's last error for this container, if any
    ports: tuple[PortConfig, ...] = ()  # host ports a running container got
    health_output: str = ""  # the output of the last health check, if any


@dataclass(frozen=True, slots=True)
class ExitResult:
    """What ``Controller.exit_result`` returns when the task stopped running."""

    exit_code: int
    unhealthy: bool = False  # stopped because its healthcheck failed
    message: str = ""
    health_output: str = ""  # unhealthy: the output of the last health check


# --- protocols -------------------------------------------------------------------------


class Controller(Protocol):
    """Drives one task's container or process. Every method may block."""

    def inspect(self) -> Observation: ...

    def prepare(self, progress: Progress | None = None) -> None:
        """Create the container (or check the command) without starting it; a long
        step (pulling the image) tells ``progress`` how it goes."""
        ...

    def start(self) -> None: ...

    def watch(self, notify: ExitNotify) -> None:
        """Have ``notify`` called once, from any thread and without blocking there, when
        the task may have stopped running: it exited, was removed, its healthcheck
        failed, or the runtime lost sight of it for a while. Returns as soon as the task
        is watched (after one look at it: one that already stopped is notified at once);
        a task that cannot be watched raises (``ContainerNotFoundError``, ...). A new
        watch replaces the controller's previous one."""
        ...

    def exit_result(self) -> ExitResult | None:
        """After ``notify``: how the task ended, or None when it still runs and is
        healthy. A task whose healthcheck failed is shut down first."""
        ...

    def shutdown(self) -> None:
        """Send the stop signal, give the grace period, then kill."""
        ...

    def terminate(self) -> None:
        """Kill at once."""
        ...

    def remove(self) -> None: ...

    def logs(self) -> bytes:
        """The task's output so far."""
        ...

    def output(self, query: OutputQuery) -> OutputStream:
        """The task's output as lines with their stream and time (output.py); raises
        ``ContainerNotFoundError`` when nothing of the task is left."""
        ...

    def close(self) -> None:
        """Release resources and cancel the watch (its notify is not called); the
        container keeps running."""
        ...


class Executor(Protocol):
    """A runtime on this node: builds controllers and finds what it runs."""

    name: ClassVar[str]
    # True: ``prepare`` raises ContainerExistsError for a started container (module rules)
    prepare_refuses_started: ClassVar[bool]

    def controller(self, task: Task) -> Controller: ...

    def list_tasks(self) -> Mapping[str, str]:
        """Task id → container id (or pid) of everything this node's executor holds,
        running or not."""
        ...

    def remove_orphan(self, task_id: str, *, kill: bool = False) -> None:
        """Stop and remove what is left of a task this node no longer holds; ``kill``:
        killed at once, without its stop signal and grace period (Docker's force
        remove)."""
        ...
