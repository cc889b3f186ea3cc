"""The simulated executor: tasks "run" without doing anything, for scale tests (the fleet,
actors/node/fleet) and for tests of the worker.

Rules:
- A started task runs until it is shut down, terminated or removed, or until someone calls
  ``SimExecutor.exit(task_id, code)`` (exit on demand).
- Starting takes ``start_delay`` seconds: ``SimController.start`` sleeps that long (it runs
  on a task runner's thread) and then calls ``finish_start``. A caller that must not block
  (the fleet's one loop) waits the delay its own way and calls ``finish_start`` itself.
- ``prepare`` creates the task, or adopts it when created and never started; a started
  one (running or exited) raises ``ContainerExistsError``, as Docker's does
  (``prepare_refuses_started``: a new task is prepared without an inspect first).
- Injected failures: ``missing_images`` are rejected as not found, ``exit_codes`` maps an
  image to the code its tasks exit with as soon as they start, and ``fail_rate`` is the
  probability (drawn from ``rng``) that a started task exits at once with code 1.
- ``on_exit(task_id, code)`` hears of every exit (called without the executor's lock held,
  on the thread that caused it).
- A task that starts publishes its spec's ports as the engine would: a port with a
  number in host mode on that number, every other on a host port picked from one count
  for the process (1024-65535, in turn), so a fleet's tasks, which share an address,
  publish distinct ports (the routing mesh's backends: actors/dispatcher/ingress.py).
- Everything is in memory and thread-safe; nothing survives the executor object. A task
  costs one small slotted record; a watched one a notify, called (without the lock) by
  whatever ends it: its exit, its removal.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from actors.worker.executors.base import (
    ContainerExistsError,
    ContainerNotFoundError,
    ExitNotify,
    ExitResult,
    ImageNotFoundError,
    Observation,
    Progress,
    RuntimeState,
)
from actors.worker.executors.output import OutputLine, OutputQuery, OutputStream
from api.enums import PublishMode
from api.objects import Task
from api.specs import PortConfig

__all__ = ["FAILED_EXIT_CODE", "SimController", "SimExecutor"]

FAILED_EXIT_CODE: Final = 1  # the code of a task failed by ``fail_rate``

ExitListener = Callable[[str, int], None]
_PICKED = itertools.count()  # the host ports the "engine" picks, for the whole process
_FIRST_PICKED: Final = 1024


def _publish(ports: Iterable[PortConfig]) -> tuple[PortConfig, ...]:
    out = []
    for p in ports:
        host = p.publish_mode is PublishMode.HOST and p.published_port
        picked = (
            p.published_port if host else _FIRST_PICKED + next(_PICKED) % (65536 - _FIRST_PICKED)
        )
        out.append(
            PortConfig(
                target_port=p.target_port,
                published_port=picked,
                protocol=p.protocol,
                publish_mode=PublishMode.HOST,
            )
        )
    return tuple(out)


@dataclass(slots=True)
class _SimTask:
    state: RuntimeState = RuntimeState.CREATED
    exit_code: int = 0
    ports: tuple[PortConfig, ...] = ()


class SimController:
    def __init__(self, executor: SimExecutor, task: Task) -> None:
        self._executor = executor
        self._task = task
        self._watch: int | None = None

    @property
    def task_id(self) -> str:
        return self._task.id

    def inspect(self) -> Observation:
        return self._executor.observe(self._task.id)

    def prepare(self, progress: Progress | None = None) -> None:
        image = self._task.spec.container.image
        if image in self._executor.missing_images:
            raise ImageNotFoundError(f"image {image} not found on this node")
        self._executor.create(self._task.id)

    def start(self) -> None:
        delay = self._executor.start_delay
        if delay > 0:
            self._executor.sleep(delay)
        self.finish_start()

    def finish_start(self) -> None:
        """The start itself, without the delay: the task runs (or exits at once, when its
        image says so or ``fail_rate`` draws it)."""
        self._executor.run(self._task.id, self._task.spec.container.image, self._task.spec.ports)

    def watch(self, notify: ExitNotify) -> None:
        self.close()  # a new watch replaces the previous
        self._watch = self._executor.watch(self._task.id, notify)

    def exit_result(self) -> ExitResult | None:
        seen = self._executor.observe(self._task.id)
        if seen.state is RuntimeState.MISSING:
            raise ContainerNotFoundError(f"no simulated task {self._task.id}")
        if seen.state is not RuntimeState.EXITED:
            return None
        return ExitResult(exit_code=seen.exit_code)

    def shutdown(self) -> None:
        self._executor.exit(self._task.id, 0)

    def terminate(self) -> None:
        self._executor.exit(self._task.id, 137)

    def remove(self) -> None:
        self.terminate()
        self._executor.forget(self._task.id)

    def logs(self) -> bytes:
        return b""

    def output(self, query: OutputQuery) -> OutputStream:
        """A simulated task writes nothing: the stream is empty."""
        return _NoOutput()

    def close(self) -> None:
        key, self._watch = self._watch, None
        if key is not None:
            self._executor.cancel_watch(self._task.id, key)


class SimExecutor:
    name: ClassVar[str] = "sim"
    # as Docker's: a started task's prepare raises ContainerExistsError (a created one is
    # adopted), so a new task is prepared at once, without an inspect first (controller.py)
    prepare_refuses_started: ClassVar[bool] = True

    def __init__(
        self,
        node_id: str = "",
        *,
        missing_images: Iterable[str] = (),
        exit_codes: Mapping[str, int] | None = None,
        start_delay: float = 0.0,
        fail_rate: float = 0.0,
        rng: random.Random | None = None,
        on_exit: ExitListener | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if start_delay < 0:
            raise ValueError(f"start_delay must be >= 0, not {start_delay}")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], not {fail_rate}")
        self.node_id = node_id
        self.missing_images = frozenset(missing_images)
        self.exit_codes = dict(exit_codes or {})
        self.start_delay = start_delay
        self.fail_rate = fail_rate
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._on_exit = on_exit
        self._tasks: dict[str, _SimTask] = {}
        self._watches: dict[str, dict[int, ExitNotify]] = {}  # by task id, then key
        self._keys = itertools.count(1)
        self._lock = threading.Lock()

    def controller(self, task: Task) -> SimController:
        return SimController(self, task)

    # -- what the controllers do ------------------------------------------------------------
    def observe(self, task_id: str) -> Observation:
        with self._lock:
            found = self._tasks.get(task_id)
            if found is None:
                return Observation(RuntimeState.MISSING)
            return Observation(
                found.state,
                container_id=f"sim-{task_id}",
                exit_code=found.exit_code,
                ports=found.ports if found.state is RuntimeState.RUNNING else (),
            )

    def create(self, task_id: str) -> None:
        with self._lock:
            found = self._tasks.setdefault(task_id, _SimTask())
            if found.state is not RuntimeState.CREATED:
                raise ContainerExistsError(f"simulated task {task_id} exists and was started")

    def run(self, task_id: str, image: str, ports: Iterable[PortConfig] = ()) -> None:
        code = self.exit_codes.get(image)
        with self._lock:
            found = self._tasks.get(task_id)
            if found is None:
                raise ContainerNotFoundError(f"no simulated task {task_id}")
            if found.state is not RuntimeState.CREATED:
                return
            found.state = RuntimeState.RUNNING
            found.ports = _publish(ports)
            if code is None and self.fail_rate > 0 and self._rng.random() < self.fail_rate:
                code = FAILED_EXIT_CODE
        if code is not None:
            self.exit(task_id, code)

    def watch(self, task_id: str, notify: ExitNotify) -> int | None:
        """Call ``notify`` when the task exits or is removed (at once when it is not
        running); the watch's key, None when it fired already."""
        with self._lock:
            found = self._tasks.get(task_id)
            if found is not None and found.state is not RuntimeState.EXITED:
                key = next(self._keys)
                self._watches.setdefault(task_id, {})[key] = notify
                return key
        notify(None)
        return None

    def cancel_watch(self, task_id: str, key: int) -> None:
        with self._lock:
            watches = self._watches.get(task_id)
            if watches is not None:
                watches.pop(key, None)
                if not watches:
                    del self._watches[task_id]

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._tasks.pop(task_id, None)
            woken = self._watches.pop(task_id, {})
        for notify in woken.values():
            notify(None)

    # -- the executor's own API -------------------------------------------------------------
    def exit(self, task_id: str, code: int) -> None:
        """Make a running simulated task exit with ``code`` (no-op otherwise)."""
        with self._lock:
            found = self._tasks.get(task_id)
            if found is None or found.state is not RuntimeState.RUNNING:
                return
            found.state = RuntimeState.EXITED
            found.exit_code = code
            woken = self._watches.pop(task_id, {})
        for notify in woken.values():
            notify(None)
        if self._on_exit is not None:
            self._on_exit(task_id, code)

    def running(self) -> list[str]:
        """Ids of the tasks that run now."""
        with self._lock:
            return [k for k, t in self._tasks.items() if t.state is RuntimeState.RUNNING]

    def list_tasks(self) -> Mapping[str, str]:
        with self._lock:
            return {task_id: f"sim-{task_id}" for task_id in self._tasks}

    def remove_orphan(self, task_id: str, *, kill: bool = False) -> None:
        # remove terminates at once: a simulated task has no grace period to skip
        self.controller(Task(id=task_id)).remove()


class _NoOutput:
    def __iter__(self) -> Iterator[OutputLine]:
        return iter(())

    def close(self) -> None:
        pass
