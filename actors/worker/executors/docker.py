"""The Docker executor: the SDK calls for one task's container, and nothing else.

Rules:
- The container configuration comes from ``docker_config`` (pure); this module only calls
  the engine. Containers are addressed by their deterministic name, so a restarted worker
  finds them without remembering ids.
- The SDK's exceptions are mapped to ``executors.base`` errors here, at the edge:
  ``ImageNotFound`` → ``ImageNotFoundError`` ("image X not found on this node: ..."),
  ``NotFound`` → ``ContainerNotFoundError``, other ``APIError`` → ``EngineError`` (or
  ``StartError`` from ``start``) with the engine's message, connection failures and timeouts
  → ``EngineUnavailableError`` (retried).
- Nothing is pulled: no registry is assumed reachable.
- A task's secret and config files (actors/worker/task_files.py) are written in
  ``prepare``, before the container is created, and removed once it stopped: after
  ``wait`` returns, after ``shutdown``/``terminate`` and in ``remove``.
- ``wait`` waits in short rounds so that ``close`` can end it and so that a container whose
  healthcheck turns unhealthy is shut down and reported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import docker
import docker.errors
import requests.exceptions

from actors.worker.executors.base import (
    ContainerNotFoundError,
    EngineError,
    EngineUnavailableError,
    ExecutorError,
    ExitResult,
    Health,
    ImageNotFoundError,
    InvalidTaskError,
    Observation,
    RuntimeState,
    StartError,
)
from actors.worker.executors.docker_config import (
    LABEL_NODE_ID,
    LABEL_TASK_ID,
    ContainerConfig,
    container_config,
)
from actors.worker.task_files import TaskFiles
from api.explain import health_output
from api.objects import Task

__all__ = ["DockerController", "DockerExecutor", "engine_available"]

WAIT_ROUND = 2.0  # seconds per wait round
API_TIMEOUT = 30.0

_STATES = {
    "created": RuntimeState.CREATED,
    "running": RuntimeState.RUNNING,
    "paused": RuntimeState.RUNNING,
    "restarting": RuntimeState.RUNNING,
    "removing": RuntimeState.EXITED,
    "exited": RuntimeState.EXITED,
    "dead": RuntimeState.EXITED,
}


def engine_available(timeout: float = 3.0) -> bool:
    """True when a Docker engine answers a ping from this process's environment."""
    try:
        client = docker.from_env(timeout=timeout)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def _explanation(exc: docker.errors.APIError) -> str:
    text = exc.explanation
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text or exc)


@contextlib.contextmanager
def _edge(what: str, *, image: str = "") -> Iterator[None]:
    """Map the SDK's exceptions raised inside to the executor's own."""
    try:
        yield
    except ExecutorError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise ImageNotFoundError(
            f"image {image} not found on this node: {_explanation(exc)}"
        ) from exc
    except docker.errors.NotFound as exc:
        raise ContainerNotFoundError(f"{what}: {_explanation(exc)}") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{what}: {_explanation(exc)}") from exc
    except requests.exceptions.RequestException as exc:
        raise EngineUnavailableError(f"{what}: engine unavailable: {exc}") from exc
    except docker.errors.DockerException as exc:
        raise EngineError(f"{what}: {exc}") from exc


class DockerController:
    """One task's container."""

    def __init__(self, api: Any, task: Task, files: TaskFiles | None = None) -> None:
        self._api = api
        self._task = task
        self._files = files
        self._closed = threading.Event()
        try:
            self._config: ContainerConfig | None = container_config(task, self._file_mounts())
            self._config_error = ""
        except (ValueError, ExecutorError) as exc:
            self._config = None
            self._config_error = str(exc)
        self.name = self._config.name if self._config is not None else task.id

    def _file_mounts(self) -> tuple[tuple[str, str], ...]:
        c = self._task.spec.container
        if not c.secrets and not c.configs:
            return ()
        if self._files is None:
            raise InvalidTaskError("this executor keeps no secret or config files")
        return self._files.layout(self._task).mounts()

    def _release_files(self) -> None:
        if self._files is not None and self._config is not None and self._config.file_mounts:
            self._files.release(self._task.id)

    def _require_config(self) -> ContainerConfig:
        if self._config is None:
            raise InvalidTaskError(self._config_error)
        return self._config

    def inspect(self) -> Observation:
        try:
            with _edge("inspect"):
                info = self._api.inspect_container(self.name)
        except ContainerNotFoundError:
            return Observation(RuntimeState.MISSING)
        state = info.get("State") or {}
        health_state = state.get("Health") or {}
        health = health_state.get("Status", "")
        return Observation(
            state=_STATES.get(str(state.get("Status", "")), RuntimeState.EXITED),
            container_id=str(info.get("Id", "")),
            pid=int(state.get("Pid") or 0),
            exit_code=int(state.get("ExitCode") or 0),
            health=Health(health) if health in Health.__members__.values() else Health.NONE,
            started_at=str(state.get("StartedAt", "")),
            error=str(state.get("Error") or ""),
            health_output=_last_health_output(health_state),
        )

    def prepare(self) -> None:
        config = self._require_config()
        if config.file_mounts and self._files is not None:
            self._files.prepare(self._task)
        with _edge("create container", image=config.image):
            host_config = self._api.create_host_config(**config.host_config_kwargs())
            try:
                self._api.create_container(host_config=host_config, **config.create_kwargs())
            except docker.errors.APIError as exc:
                if exc.status_code == 409 and "already in use" in _explanation(exc):
                    return  # created by an earlier attempt: adopt it
                raise

    def start(self) -> None:
        try:
            with _edge("start container"):
                self._api.start(self.name)
        except EngineError as exc:
            raise StartError(f"starting container failed: {exc.args[0]}") from exc

    def wait(self) -> ExitResult:
        health = self._config is not None and self._config.healthcheck is not None
        health = health or self.inspect().health is not Health.NONE
        while not self._closed.is_set():
            try:
                with _edge("wait"):
                    result = self._api.wait(self.name, timeout=WAIT_ROUND)
            except EngineUnavailableError:
                self._ping()  # a timed-out round if the engine answers; raises if not
                if health:
                    observed = self.inspect()
                    if observed.health is Health.UNHEALTHY:
                        self.shutdown()
                        return ExitResult(
                            exit_code=self.inspect().exit_code,
                            unhealthy=True,
                            health_output=observed.health_output,
                        )
                continue
            self._release_files()
            error = result.get("Error") or {}
            return ExitResult(
                exit_code=int(result.get("StatusCode", -1)),
                message=str(error.get("Message", "")) if isinstance(error, dict) else "",
            )
        raise EngineUnavailableError("wait ended: controller closed")

    def _ping(self) -> None:
        with _edge("ping"):
            self._api.ping()

    def shutdown(self) -> None:
        timeout = self._config.stop_timeout if self._config is not None else 10
        with _edge("stop container"):
            self._api.stop(self.name, timeout=timeout)
        self._release_files()

    def terminate(self) -> None:
        try:
            with _edge("kill container"):
                self._api.kill(self.name)
        except EngineError as exc:
            if "is not running" not in str(exc):
                raise
        self._release_files()

    def remove(self) -> None:
        try:
            with _edge("remove container"):
                self._api.remove_container(self.name, force=True)
        except EngineError as exc:
            if "already in progress" not in str(exc):
                raise
        self._release_files()

    def logs(self) -> bytes:
        with _edge("logs"):
            data = self._api.logs(self.name, stdout=True, stderr=True)
        return data if isinstance(data, bytes) else bytes(data)

    def close(self) -> None:
        self._closed.set()


class DockerExecutor:
    """Containers on the local engine for the tasks of node ``node_id``."""

    name: ClassVar[str] = "docker"

    def __init__(
        self,
        node_id: str,
        client: Any = None,
        *,
        timeout: float = API_TIMEOUT,
        files: TaskFiles | None = None,
    ) -> None:
        self.node_id = node_id
        self.files = files
        self._client = client
        self._timeout = timeout
        self._lock = threading.Lock()

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                with _edge("connect"):
                    self._client = docker.from_env(timeout=self._timeout)
            return self._client.api

    def controller(self, task: Task) -> DockerController:
        return DockerController(self.api, task, self.files)

    def _containers(self) -> list[dict[str, Any]]:
        filters = {"label": [LABEL_TASK_ID, f"{LABEL_NODE_ID}={self.node_id}"]}
        with _edge("list containers"):
            found: list[dict[str, Any]] = self.api.containers(all=True, filters=filters)
        return found

    def list_tasks(self) -> Mapping[str, str]:
        """Containers by task id, and tasks with only files left (container id "")."""
        found = dict.fromkeys(self.files.task_ids() if self.files is not None else (), "")
        found.update(
            (str(c["Labels"][LABEL_TASK_ID]), str(c["Id"]))
            for c in self._containers()
            if (c.get("Labels") or {}).get(LABEL_TASK_ID)
        )
        return found

    def remove_orphan(self, task_id: str) -> None:
        if self.files is not None:
            self.files.release(task_id)
        for container in self._containers():
            if (container.get("Labels") or {}).get(LABEL_TASK_ID) != task_id:
                continue
            with contextlib.suppress(ContainerNotFoundError), _edge("stop container"):
                self.api.stop(container["Id"])
            with contextlib.suppress(ContainerNotFoundError), _edge("remove container"):
                self.api.remove_container(container["Id"], force=True)


def _last_health_output(health: Any) -> str:
    """The output of the engine's last health check (``State.Health.Log[-1].Output``)."""
    log = health.get("Log") if isinstance(health, dict) else None
    if not isinstance(log, list) or not log or not isinstance(log[-1], dict):
        return ""
    return health_output(str(log[-1].get("Output") or ""))
