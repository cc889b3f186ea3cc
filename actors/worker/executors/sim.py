"""The simulated executor: tasks "run" without doing anything, for scale tests.

Rules:
- A started task runs until it is shut down, terminated or removed, or until a test calls
  ``SimExecutor.exit(task_id, code)``.
- Injected failures by image name: ``missing_images`` are rejected as not found,
  ``exit_codes`` maps an image to the code its tasks exit with as soon as they start.
- Everything is in memory and thread-safe; nothing survives the executor object.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from actors.worker.executors.base import (
    ContainerNotFoundError,
    EngineUnavailableError,
    ExitResult,
    ImageNotFoundError,
    Observation,
    Progress,
    RuntimeState,
)
from actors.worker.executors.output import OutputLine, OutputQuery, OutputStream
from api.objects import Task

__all__ = ["SimController", "SimExecutor"]


@dataclass
class _SimTask:
    state: RuntimeState = RuntimeState.CREATED
    exit_code: int = 0
    exited: threading.Event = field(default_factory=threading.Event)


class SimController:
    def __init__(self, executor: SimExecutor, task: Task) -> None:
        self._executor = executor
        self._task = task
        self._closed = threading.Event()

    def _get(self) -> _SimTask:
        found = self._executor._tasks.get(self._task.id)
        if found is None:
            raise ContainerNotFoundError(f"no simulated task {self._task.id}")
        return found

    def inspect(self) -> Observation:
        with self._executor._lock:
            found = self._executor._tasks.get(self._task.id)
            if found is None:
                return Observation(RuntimeState.MISSING)
            return Observation(
                found.state, container_id=f"sim-{self._task.id}", exit_code=found.exit_code
            )

    def prepare(self, progress: Progress | None = None) -> None:
        image = self._task.spec.container.image
        if image in self._executor.missing_images:
            raise ImageNotFoundError(f"image {image} not found on this node")
        with self._executor._lock:
            self._executor._tasks.setdefault(self._task.id, _SimTask())

    def start(self) -> None:
        code = self._executor.exit_codes.get(self._task.spec.container.image)
        with self._executor._lock:
            found = self._get()
            if found.state is RuntimeState.CREATED:
                found.state = RuntimeState.RUNNING
        if code is not None:
            self._executor.exit(self._task.id, code)

    def wait(self) -> ExitResult:
        with self._executor._lock:
            found = self._get()
        while not found.exited.wait(0.1):
            if self._closed.is_set():
                raise EngineUnavailableError("wait ended: controller closed")
        return ExitResult(exit_code=found.exit_code)

    def shutdown(self) -> None:
        self._executor.exit(self._task.id, 0)

    def terminate(self) -> None:
        self._executor.exit(self._task.id, 137)

    def remove(self) -> None:
        self.terminate()
        with self._executor._lock:
            self._executor._tasks.pop(self._task.id, None)

    def logs(self) -> bytes:
        return b""

    def output(self, query: OutputQuery) -> OutputStream:
        """A simulated task writes nothing: the stream is empty."""
        return _NoOutput()

    def close(self) -> None:
        self._closed.set()


class _NoOutput:
    def __iter__(self) -> Iterator[OutputLine]:
        return iter(())

    def close(self) -> None:
        pass


class SimExecutor:
    name: ClassVar[str] = "sim"

    def __init__(
        self,
        node_id: str = "",
        *,
        missing_images: Iterable[str] = (),
        exit_codes: Mapping[str, int] | None = None,
    ) -> None:
        self.node_id = node_id
        self.missing_images = frozenset(missing_images)
        self.exit_codes = dict(exit_codes or {})
        self._tasks: dict[str, _SimTask] = {}
        self._lock = threading.Lock()

    def controller(self, task: Task) -> SimController:
        return SimController(self, task)

    def exit(self, task_id: str, code: int) -> None:
        """Make a running simulated task exit with ``code`` (no-op otherwise)."""
        with self._lock:
            found = self._tasks.get(task_id)
            if found is None or found.state is not RuntimeState.RUNNING:
                return
            found.state = RuntimeState.EXITED
            found.exit_code = code
            found.exited.set()

    def list_tasks(self) -> Mapping[str, str]:
        with self._lock:
            return {task_id: f"sim-{task_id}" for task_id in self._tasks}

    def remove_orphan(self, task_id: str) -> None:
        self.controller(Task(id=task_id)).remove()
