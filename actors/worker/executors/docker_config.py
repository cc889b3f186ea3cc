"""A task's Docker container configuration, as plain values (no SDK import).

Rules:
- Names are ``<service>.<slot>.<task id>`` for replicated tasks and
  ``<service>.<node id>.<task id>`` for global ones (slot 0), as Docker's swarm mode names
  them (DESIGN §9). A task without a service name uses ``task``.
- Labels: the spec's container labels, then ``com.docker.swarm.*`` (task, service, node
  ids, service name, slot), which the spec cannot override. Adoption finds containers by
  the task and node labels.
- SwarmKit semantics for command and args: ``command`` replaces the image's entrypoint,
  ``args`` its default command; empty keeps the image's.
- Durations are float seconds in the spec and integer nanoseconds for the engine.
- A task's secret and config files (actors/worker/file_layout.py) are bind-mounted
  read-only, each at its path: ``/run/secrets/<target>`` or the config's target.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.objects import Task
from api.specs import HealthConfig

__all__ = [
    "LABEL_NODE_ID",
    "LABEL_SERVICE_ID",
    "LABEL_SERVICE_NAME",
    "LABEL_SLOT",
    "LABEL_TASK_ID",
    "ContainerConfig",
    "container_config",
    "container_name",
    "healthcheck_config",
    "stop_signal_name",
]

LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_NODE_ID = "com.docker.swarm.node.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_SLOT = "com.docker.swarm.task.slot"

_NS = 1_000_000_000


def _no_labels() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """Everything ``create_container`` needs, SDK-neutral."""

    name: str
    image: str
    labels: Mapping[str, str] = field(default_factory=_no_labels)
    entrypoint: tuple[str, ...] | None = None  # None: the image's
    command: tuple[str, ...] | None = None  # None: the image's
    env: tuple[str, ...] = ()
    user: str = ""
    working_dir: str = ""
    hostname: str = ""
    stop_signal: str = ""  # empty: the image's
    stop_timeout: int = 10  # whole seconds, as the engine takes it
    nano_cpus: int = 0
    memory_bytes: int = 0
    healthcheck: Mapping[str, Any] | None = None
    file_mounts: tuple[tuple[str, str], ...] = ()  # (host path, container path), read-only

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SDK's ``APIClient.create_container`` (without
        ``host_config``, which ``host_config_kwargs`` describes)."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "labels": dict(self.labels),
            "environment": list(self.env),
            "stop_timeout": self.stop_timeout,
            "detach": True,
        }
        if self.entrypoint is not None:
            kwargs["entrypoint"] = list(self.entrypoint)
        if self.command is not None:
            kwargs["command"] = list(self.command)
        if self.user:
            kwargs["user"] = self.user
        if self.working_dir:
            kwargs["working_dir"] = self.working_dir
        if self.hostname:
            kwargs["hostname"] = self.hostname
        if self.stop_signal:
            kwargs["stop_signal"] = self.stop_signal
        if self.healthcheck is not None:
            kwargs["healthcheck"] = dict(self.healthcheck)
        return kwargs

    def host_config_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SDK's ``APIClient.create_host_config``."""
        kwargs: dict[str, Any] = {}
        if self.nano_cpus:
            kwargs["nano_cpus"] = self.nano_cpus
        if self.memory_bytes:
            kwargs["mem_limit"] = self.memory_bytes
        if self.file_mounts:
            files = [
                {"Type": "bind", "Source": source, "Target": target, "ReadOnly": True}
                for source, target in self.file_mounts
            ]
            kwargs["mounts"] = [*kwargs.get("mounts", []), *files]
        return kwargs


def container_name(task: Task) -> str:
    service = task.service_name or "task"
    middle = str(task.slot) if task.slot > 0 else (task.node_id or "0")
    return f"{service}.{middle}.{task.id}"


def stop_signal_name(value: str) -> str:
    """A stop signal as the engine takes it: ``"15"``/``"TERM"``/``"SIGTERM"`` →
    ``"SIGTERM"``; ValueError for an unknown one."""
    text = value.strip().upper()
    if not text:
        return ""
    try:
        number = int(text)
    except ValueError:
        name = text if text.startswith("SIG") else f"SIG{text}"
        if not hasattr(signal.Signals, name):
            raise ValueError(f"unknown stop signal {value!r}") from None
        return name
    try:
        return signal.Signals(number).name
    except ValueError:
        raise ValueError(f"unknown stop signal {value!r}") from None


def healthcheck_config(health: HealthConfig | None) -> dict[str, Any] | None:
    """The engine's healthcheck dict; None keeps the image's."""
    if health is None or not health.test:
        return None
    config: dict[str, Any] = {"test": list(health.test)}
    if health.interval:
        config["interval"] = int(health.interval * _NS)
    if health.timeout:
        config["timeout"] = int(health.timeout * _NS)
    if health.retries:
        config["retries"] = health.retries
    if health.start_period:
        config["start_period"] = int(health.start_period * _NS)
    return config


def container_config(task: Task, file_mounts: tuple[tuple[str, str], ...] = ()) -> ContainerConfig:
    """The container for ``task``, with its secret and config files at ``file_mounts``.
    ValueError for a spec the engine would refuse."""
    spec = task.spec.container
    if not spec.image:
        raise ValueError("task has no image")
    labels = dict(spec.labels)
    labels.update(
        {
            LABEL_TASK_ID: task.id,
            LABEL_SERVICE_ID: task.service_id,
            LABEL_NODE_ID: task.node_id,
            LABEL_SERVICE_NAME: task.service_name,
            LABEL_SLOT: str(task.slot),
        }
    )
    limits = task.spec.resources.limits
    grace = max(0.0, spec.stop_grace_period)
    return ContainerConfig(
        name=container_name(task),
        image=spec.image,
        labels=labels,
        entrypoint=tuple(spec.command) if spec.command else None,
        command=tuple(spec.args) if spec.args else None,
        env=tuple(spec.env),
        user=spec.user,
        working_dir=spec.dir,
        hostname=spec.hostname,
        stop_signal=stop_signal_name(spec.stop_signal),
        stop_timeout=int(grace) if grace == int(grace) else int(grace) + 1,
        nano_cpus=limits.nano_cpus,
        memory_bytes=limits.memory_bytes,
        healthcheck=healthcheck_config(spec.healthcheck),
        file_mounts=file_mounts,
    )
