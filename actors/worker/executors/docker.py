"""The Docker executor: the SDK calls for one task's container, and nothing else.

Rules:
- The container configuration comes from ``docker_config`` (pure); this module only calls
  the engine. Containers are addressed by their deterministic name, so a restarted worker
  finds them without remembering ids.
- The SDK's exceptions are mapped to ``executors.base`` errors at the edge
  (docker_errors.py; ``StartError`` from ``start``).
- ``prepare`` makes the task's networks exist on the engine (docker_networks.py), creates
  the container and joins it to its other networks. An image the create finds missing is
  pulled (docker_images.py: progress in the task's message, the service's registry
  credentials) and the create repeated: no image check before it (one round trip less per
  task). A container that exists is adopted if never started, else ContainerExistsError
  (base.py: a new task's runner prepares without inspecting first). A network the manager
  has not sent yet (a worker that just restarted) is waited for.
- ``remove`` removes the container with its anonymous volumes (named ones stay), then
  the task's networks if no container uses them any more.
- ``inspect`` reports the host ports a running container got (``port_status``).
- ``output`` reads the engine's log stream itself (docker_logs.py), so stdout and stderr
  stay apart.
- A task's secret and config files (actors/worker/task_files.py) are written in
  ``prepare``, before the container is created, and removed once it stopped: when
  ``exit_result`` finds it stopped, after ``shutdown``/``terminate`` and in ``remove``.
- A running container is waited on by the executor's one exit watch
  (docker_exit_watch.py: one event stream for all of them; a blocking wait request per
  container held a thread and a connection each). ``watch`` adds the container (by the
  id the last inspect saw) and looks at it once, for a stop before the watch began.
  ``exit_result`` inspects: the exit code and the engine's error; a container killed for
  memory says so ("out of memory (OOM killed)"); one removed before that look (``docker
  rm -f``) ends with the exit code of its ``die`` event, or ``ContainerNotFoundError``
  when the event was not seen; one whose healthcheck failed is shut down and reported
  unhealthy; one still running and healthy is None (watched again).
- At most ``start_slots`` container creates and starts run on the engine at once per node
  (``DockerExecutor``): a service of 100 replicas does not send 100 starts together, which
  the engine serves no faster than 10 (bench/converge.py's engine-alone reference) while
  they compete for the same cores. A task's create runs under the networks' lock only when
  it joins cluster networks (the lock keeps a network from being pruned under it);
  creates without networks run side by side.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import docker
import docker.errors

from actors.worker.executors.base import (
    ContainerExistsError,
    ContainerNotFoundError,
    DependencyPendingError,
    EngineError,
    ExecutorError,
    ExitNotify,
    ExitResult,
    Health,
    ImageNotFoundError,
    InvalidTaskError,
    Observation,
    Progress,
    RuntimeState,
    StartError,
)
from actors.worker.executors.docker_config import (
    LABEL_NODE_ID,
    LABEL_TASK_ID,
    ContainerConfig,
    EngineNetwork,
    container_config,
    engine_network,
    port_status,
    task_aliases,
    volumes_to_create,
)
from actors.worker.executors.docker_errors import edge as _edge
from actors.worker.executors.docker_errors import explanation as _explanation
from actors.worker.executors.docker_exit_watch import ExitWatch
from actors.worker.executors.docker_exits import Wake
from actors.worker.executors.docker_images import ensure_image
from actors.worker.executors.docker_logs import DockerOutput, log_params
from actors.worker.executors.docker_networks import EngineNetworks
from actors.worker.executors.output import OutputQuery, OutputStream
from actors.worker.resources import TaskResources
from actors.worker.task_files import TaskFiles
from api.explain import health_output
from api.objects import NodeDescription, Task
from api.templates import expand_task

__all__ = ["DockerController", "DockerExecutor", "engine_available"]

OOM_MESSAGE = "out of memory (OOM killed)"  # an exit's message when the engine says so
START_SLOTS = 10  # container creates and starts on the engine at once, per node
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


class DockerController:
    """One task's container."""

    def __init__(
        self,
        api: Any,
        task: Task,
        *,
        resources: TaskResources | None = None,
        networks: EngineNetworks | None = None,
        publish_ip: str = "",
        clock: Callable[[], float] = time.monotonic,
        files: TaskFiles | None = None,
        slots: threading.BoundedSemaphore | None = None,
        description: NodeDescription | None = None,
        exits: ExitWatch | None = None,
    ) -> None:
        self._api = api
        self._task = task
        self._slots = slots or threading.BoundedSemaphore(START_SLOTS)
        self._exits = exits or ExitWatch(lambda: api, task.node_id)
        self._watch: int | None = None  # the key of this controller's watch
        self._container_id = ""  # as the last inspect saw it
        self._died_with: int | None = None  # the exit code of the die that woke the watch
        self._lock = threading.Lock()  # _watch: set by watch, cancelled by close
        self._files = files
        self._resources = resources or TaskResources()
        self._networks = networks or EngineNetworks(task.node_id)
        self._publish_ip = publish_ip
        self._clock = clock
        try:  # without networks: they may not have arrived yet (prepare waits for them)
            self._task = expand_task(task, description)  # its templates, for this node
            self._config: ContainerConfig | None = container_config(
                self._task, self._file_mounts(), publish_ip=publish_ip
            )
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

    def _engine_networks(self) -> tuple[EngineNetwork, ...]:
        """The task's networks as this node's engine holds them; DependencyPendingError
        while the manager has not sent one yet."""
        out = []
        for attachment in self._task.spec.networks:
            network = self._resources.network(attachment.target)
            if network is None:
                raise DependencyPendingError(
                    f"waiting for network {attachment.target} from the manager"
                )
            aliases = task_aliases(self._task.service_name, attachment.aliases)
            out.append(engine_network(network, self._networks.node_id, aliases))
        return tuple(out)

    def inspect(self) -> Observation:
        try:
            with _edge("inspect"):
                info = self._api.inspect_container(self.name)
        except ContainerNotFoundError:
            return Observation(RuntimeState.MISSING)
        state = info.get("State") or {}
        health_state = state.get("Health") or {}
        health = health_state.get("Status", "")
        self._container_id = str(info.get("Id", ""))
        return Observation(
            state=_STATES.get(str(state.get("Status", "")), RuntimeState.EXITED),
            container_id=self._container_id,
            pid=int(state.get("Pid") or 0),
            exit_code=int(state.get("ExitCode") or 0),
            health=Health(health) if health in Health.__members__.values() else Health.NONE,
            started_at=str(state.get("StartedAt", "")),
            error=str(state.get("Error") or "") or (OOM_MESSAGE if state.get("OOMKilled") else ""),
            ports=port_status((info.get("NetworkSettings") or {}).get("Ports"))
            if state.get("Running")
            else (),
            health_output=_last_health_output(health_state),
        )

    def prepare(self, progress: Progress | None = None) -> None:
        self._require_config()
        networks = self._engine_networks()
        config = container_config(
            self._task, self._file_mounts(), publish_ip=self._publish_ip, networks=networks
        )
        if config.file_mounts and self._files is not None:
            self._files.prepare(self._task)
        self._create_volumes(config)  # once, though a missing image repeats the create
        try:
            self._create(config, networks)
        except ImageNotFoundError:
            # The engine's answer to the create is the check (as ``docker run`` does): an
            # image on the node costs no round trip of its own, a missing one is pulled.
            auth = self._resources.registry_auth(self._task.service_id)
            ensure_image(
                self._api,
                config.image,
                auth,
                progress=progress,
                clock=self._clock,
                task_id=self._task.id,
            )
            self._create(config, networks)

    def _create(self, config: ContainerConfig, networks: tuple[EngineNetwork, ...]) -> None:
        """Create the container and join its other networks. One that exists is adopted
        if it was never started, else ContainerExistsError (the runner inspects it)."""
        with self._networks.lock if networks else contextlib.nullcontext():
            self._networks.ensure(self._api, networks)
            with self._slots, _edge("create container", image=config.image):
                host_config = self._api.create_host_config(**config.host_config_kwargs())
                try:
                    self._api.create_container(host_config=host_config, **config.create_kwargs())
                except docker.errors.APIError as exc:
                    if exc.status_code != 409 or "already in use" not in _explanation(exc):
                        raise
                    self._adopt_created()
            self._networks.connect(self._api, self.name, networks[1:])

    def _create_volumes(self, config: ContainerConfig) -> None:
        for volume in volumes_to_create(config.mounts):
            with self._slots, _edge(f"create volume {volume.name}"):
                try:
                    self._api.create_volume(
                        name=volume.name,
                        driver=volume.driver,
                        driver_opts=dict(volume.driver_opts),
                        labels=dict(volume.labels),
                    )
                except docker.errors.NotFound as exc:  # a driver (plugin) not on this node
                    raise EngineError(f"create volume {volume.name}: {_explanation(exc)}") from exc

    def _adopt_created(self) -> None:
        """The container exists (an earlier attempt made it): keep it if never started."""
        if self.inspect().state is not RuntimeState.CREATED:
            raise ContainerExistsError(f"container {self.name} exists and was started")

    def start(self) -> None:
        try:
            with self._slots, _edge("start container"):
                self._api.start(self.name)
        except EngineError as exc:
            raise StartError(f"starting container failed: {exc.args[0]}") from exc

    def watch(self, notify: ExitNotify) -> None:
        container_id = self._container_id or self.inspect().container_id
        if not container_id:
            raise ContainerNotFoundError(f"wait: no such container: {self.name}")

        def woken(wake: Wake) -> None:
            self._died_with = wake.exit_code
            notify(wake.error)

        self._died_with = None
        key = self._exits.add(container_id, woken)
        with self._lock:
            previous, self._watch = self._watch, key
        if previous is not None:
            self._exits.cancel(previous)
        try:
            seen = self.inspect()  # a stop before the watch began
        except ExecutorError:
            self._exits.cancel(key)
            raise
        stopped = seen.state is not RuntimeState.RUNNING or seen.container_id != container_id
        if stopped or seen.health is Health.UNHEALTHY:
            self._exits.wake(key)

    def exit_result(self) -> ExitResult | None:
        seen = self.inspect()
        if seen.state is RuntimeState.MISSING:
            if self._died_with is None:
                raise ContainerNotFoundError(f"wait: container {self.name} was removed")
            self._release_files()
            return ExitResult(exit_code=self._died_with)
        if seen.state is RuntimeState.RUNNING:
            if seen.health is not Health.UNHEALTHY:
                return None
            self.shutdown()
            return ExitResult(
                exit_code=self.inspect().exit_code,
                unhealthy=True,
                health_output=seen.health_output,
            )
        self._release_files()
        return ExitResult(exit_code=seen.exit_code, message=seen.error)

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
        with self._networks.lock if self._task.spec.networks else contextlib.nullcontext():
            try:
                with _edge("remove container"):
                    self._api.remove_container(self.name, force=True, v=True)
            except EngineError as exc:
                if "already in progress" not in str(exc):
                    raise
            if self._task.spec.networks:
                self._networks.prune(self._api, [a.target for a in self._task.spec.networks])
        self._release_files()

    def logs(self) -> bytes:
        with _edge("logs"):
            data = self._api.logs(self.name, stdout=True, stderr=True)
        return data if isinstance(data, bytes) else bytes(data)

    def output(self, query: OutputQuery) -> OutputStream:
        """The engine's log stream of the container, stdout and stderr apart, with times
        (docker_logs.py); a follow ends when the container stops."""
        with _edge("logs"):
            response = self._api._get(
                self._api._url("/containers/{0}/logs", self.name),
                params=log_params(query),
                stream=True,
            )
            self._api._raise_for_status(response)
        return DockerOutput(response, tty=self._task.spec.container.tty)

    def close(self) -> None:
        with self._lock:
            key, self._watch = self._watch, None
        if key is not None:
            self._exits.cancel(key)


class DockerExecutor:
    """Containers on the local engine for the tasks of node ``node_id``; published ports
    bound to ``publish_ip`` (empty: every address); networks and registry credentials from
    ``resources`` (the agent fills it from the session)."""

    name: ClassVar[str] = "docker"
    prepare_refuses_started: ClassVar[bool] = True  # a conflicting create is inspected

    def __init__(
        self,
        node_id: str,
        client: Any = None,
        *,
        timeout: float = API_TIMEOUT,
        resources: TaskResources | None = None,
        publish_ip: str = "",
        clock: Callable[[], float] = time.monotonic,
        files: TaskFiles | None = None,
        start_slots: int = START_SLOTS,
        description: NodeDescription | None = None,
    ) -> None:
        if start_slots < 1:
            raise ValueError(f"start_slots must be at least 1, not {start_slots}")
        self.node_id = node_id
        self.description = description  # this node's, for tasks' templates
        self.files = files
        self._slots = threading.BoundedSemaphore(start_slots)
        self.resources = resources if resources is not None else TaskResources()
        self.networks = EngineNetworks(node_id)
        self._publish_ip = publish_ip
        self._clock = clock
        self._client = client
        self._timeout = timeout
        self._lock = threading.Lock()
        self.exits = ExitWatch(lambda: self.api, node_id)  # every controller's waits

    @property
    def api(self) -> Any:
        with self._lock:
            if self._client is None:
                with _edge("connect"):
                    self._client = docker.from_env(timeout=self._timeout)
            return self._client.api

    def controller(self, task: Task) -> DockerController:
        return DockerController(
            self.api,
            task,
            resources=self.resources,
            networks=self.networks,
            publish_ip=self._publish_ip,
            clock=self._clock,
            files=self.files,
            slots=self._slots,
            description=self.description,
            exits=self.exits,
        )

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

    def remove_orphan(self, task_id: str, *, kill: bool = False) -> None:
        if self.files is not None:
            self.files.release(task_id)
        for container in self._containers():
            if (container.get("Labels") or {}).get(LABEL_TASK_ID) != task_id:
                continue
            if not kill:  # else the forced removal kills it
                with contextlib.suppress(ContainerNotFoundError), _edge("stop container"):
                    self.api.stop(container["Id"])
            with (
                self.networks.lock,
                contextlib.suppress(ContainerNotFoundError),
                _edge("remove container"),
            ):
                self.api.remove_container(container["Id"], force=True, v=True)
        with self.networks.lock:
            self.networks.prune(self.api)


def _last_health_output(health: Any) -> str:
    """The output of the engine's last health check (``State.Health.Log[-1].Output``)."""
    log = health.get("Log") if isinstance(health, dict) else None
    if not isinstance(log, list) or not log or not isinstance(log[-1], dict):
        return ""
    return health_output(str(log[-1].get("Output") or ""))
