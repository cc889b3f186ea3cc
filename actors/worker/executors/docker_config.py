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
- Published ports are host-mode port bindings on the node's publish address (all
  addresses by default); a port without a published number, and every ingress port (the
  routing mesh forwards its published port to it), is bound to one the engine picks,
  which ``port_status`` reads back from the running container.
- Mounts go to the engine as they are: a named volume is created by the engine on first
  use on this node and outlives the task; an anonymous one is removed with the container.
  A named volume whose options give a driver is created first (``volumes_to_create``),
  with the driver's options and the labels, as SwarmKit's executor does.
- A network is one bridge per node named ``<network name>-<node id prefix>`` (several
  nodes may share an engine) and labelled with the network and node ids. The container
  joins its first network at creation and the others before it starts, answering there
  to the service's name, to ``tasks.<service name>`` (as Docker's DNS answers both with
  the tasks' addresses) and to the attachment's aliases (`task_aliases`).
- A task's secret and config files (actors/worker/file_layout.py) are bind-mounted
  read-only, each at its path: ``/run/secrets/<target>`` or the config's target.
- The kernel-facing options (read-only root, init, TTY, groups, capabilities, ulimits,
  sysctls, DNS, hosts) go to the engine as Docker's swarm executor passes them; a hosts
  line ``IP HOST ALIAS`` is one ``HOST:IP`` for each of its names.
- The PIDs limit, OOM score adjustment and logging driver go to the engine's host config
  (``PidsLimit``, ``OomScoreAdj``, ``LogConfig``), as Docker's swarm executor passes them;
  without a logging driver the container has the engine's default.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.enums import MountType, PortProtocol, PublishMode
from api.objects import Network, Task
from api.specs import DNSConfig, HealthConfig, LogDriver, Mount, PortConfig, Ulimit

__all__ = [
    "LABEL_NETWORK_ID",
    "LABEL_NODE_ID",
    "LABEL_SERVICE_ID",
    "LABEL_SERVICE_NAME",
    "LABEL_SLOT",
    "LABEL_TASK_ID",
    "ContainerConfig",
    "EngineNetwork",
    "VolumeCreate",
    "container_config",
    "container_name",
    "engine_network",
    "extra_hosts",
    "healthcheck_config",
    "port_status",
    "stop_signal_name",
    "task_aliases",
    "volumes_to_create",
]

LABEL_TASK_ID = "com.docker.swarm.task.id"
LABEL_SERVICE_ID = "com.docker.swarm.service.id"
LABEL_NODE_ID = "com.docker.swarm.node.id"
LABEL_SERVICE_NAME = "com.docker.swarm.service.name"
LABEL_SLOT = "com.docker.swarm.task.slot"
LABEL_NETWORK_ID = "com.docker.swarm.network.id"
NODE_ID_IN_NAMES = 12  # characters of the node id in an engine network's name

_NS = 1_000_000_000


def _no_labels() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class EngineNetwork:
    """A network as this node's engine holds it, and the names a container answers to
    on it."""

    name: str  # the engine's network name
    network_id: str  # the cluster's network id (a label on the engine's network)
    internal: bool = False
    labels: Mapping[str, str] = field(default_factory=_no_labels)
    aliases: tuple[str, ...] = ()

    def create_kwargs(self) -> dict[str, Any]:
        """For the SDK's ``APIClient.create_network``."""
        return {
            "name": self.name,
            "driver": "bridge",
            "internal": self.internal,
            "labels": dict(self.labels),
            "check_duplicate": True,
        }


def task_aliases(service_name: str, aliases: tuple[str, ...]) -> tuple[str, ...]:
    """The names a task answers to on a network, once each."""
    own = (service_name, f"tasks.{service_name}") if service_name else ()
    return tuple(a for a in dict.fromkeys((*own, *aliases)) if a)


def engine_network(network: Network, node_id: str, aliases: tuple[str, ...] = ()) -> EngineNetwork:
    suffix = node_id[:NODE_ID_IN_NAMES]
    labels = dict(network.spec.labels)
    labels.update({LABEL_NETWORK_ID: network.id, LABEL_NODE_ID: node_id})
    return EngineNetwork(
        name=f"{network.spec.name}-{suffix}" if suffix else network.spec.name,
        network_id=network.id,
        internal=network.spec.internal,
        labels=labels,
        aliases=aliases,
    )


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
    ports: tuple[PortConfig, ...] = ()
    publish_ip: str = ""  # the host address ports are bound to; empty: all
    mounts: tuple[Mount, ...] = ()
    networks: tuple[EngineNetwork, ...] = ()  # the first is joined at creation
    file_mounts: tuple[tuple[str, str], ...] = ()  # (host path, container path), read-only
    read_only: bool = False
    init: bool = False
    tty: bool = False
    group_add: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=_no_labels)
    dns: DNSConfig = field(default_factory=DNSConfig)
    extra_hosts: tuple[str, ...] = ()  # the engine's "HOST:IP"
    pids_limit: int = 0  # 0: unlimited
    oom_score_adj: int = 0
    log_driver: LogDriver | None = None  # None: the engine's default

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
        if self.tty:
            kwargs["tty"] = True
        if self.ports:
            kwargs["ports"] = sorted({(p.target_port, str(p.protocol)) for p in self.ports})
        if self.networks:
            first = self.networks[0]
            kwargs["networking_config"] = {
                "EndpointsConfig": {first.name: {"Aliases": list(first.aliases)}}
            }
        return kwargs

    def host_config_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SDK's ``APIClient.create_host_config``."""
        kwargs: dict[str, Any] = {}
        if self.nano_cpus:
            kwargs["nano_cpus"] = self.nano_cpus
        if self.memory_bytes:
            kwargs["mem_limit"] = self.memory_bytes
        if self.ports:
            bindings: dict[str, list[dict[str, str]]] = {}
            for p in self.ports:
                bindings.setdefault(f"{p.target_port}/{p.protocol}", []).append(
                    {
                        "HostIp": self.publish_ip,
                        "HostPort": _host_port(p),
                    }
                )
            kwargs["port_bindings"] = bindings
        if self.mounts:
            kwargs["mounts"] = [_engine_mount(m) for m in self.mounts]
        if self.networks:
            kwargs["network_mode"] = self.networks[0].name
        if self.file_mounts:
            files = [
                {"Type": "bind", "Source": source, "Target": target, "ReadOnly": True}
                for source, target in self.file_mounts
            ]
            kwargs["mounts"] = [*kwargs.get("mounts", []), *files]
        optional: dict[str, Any] = {
            "read_only": self.read_only,
            "init": self.init,
            "group_add": list(self.group_add),
            "cap_add": list(self.cap_add),
            "cap_drop": list(self.cap_drop),
            "ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in self.ulimits],
            "sysctls": dict(self.sysctls),
            "dns": list(self.dns.nameservers),
            "dns_search": list(self.dns.search),
            "dns_opt": list(self.dns.options),
            "extra_hosts": list(self.extra_hosts),
            "pids_limit": self.pids_limit,
            "oom_score_adj": self.oom_score_adj,
        }
        kwargs.update((k, v) for k, v in optional.items() if v)
        if self.log_driver is not None:
            kwargs["log_config"] = {
                "Type": self.log_driver.name,
                "Config": dict(self.log_driver.options),
            }
        return kwargs


def _engine_mount(mount: Mount) -> dict[str, Any]:
    engine: dict[str, Any] = {
        "Type": str(mount.type),
        "Target": mount.target,
        "ReadOnly": mount.readonly,
    }
    if mount.source:
        engine["Source"] = mount.source
    options = mount.volume_options
    if options is not None:  # the engine makes an anonymous volume with them too
        volume: dict[str, Any] = {"NoCopy": options.nocopy, "Labels": dict(options.labels)}
        if options.driver is not None:
            volume["DriverConfig"] = {
                "Name": options.driver.name,
                "Options": dict(options.driver.options),
            }
        engine["VolumeOptions"] = volume
    return engine


@dataclass(frozen=True, slots=True)
class VolumeCreate:
    """A named volume to create before the container (the SDK's ``create_volume``)."""

    name: str
    driver: str | None  # None: the engine's default (local)
    driver_opts: Mapping[str, str]
    labels: Mapping[str, str]


def volumes_to_create(mounts: tuple[Mount, ...]) -> tuple[VolumeCreate, ...]:
    """The named volumes a task's mounts give a driver for, created before its container
    as SwarmKit's executor does: with the driver's options and the labels. Creating one
    the engine has with the same driver returns it unchanged; with another driver the
    engine refuses, and the task fails saying so. Anonymous volumes are the engine's to
    make at the container's creation (it takes the options from the mount)."""
    out = []
    for m in mounts:
        options = m.volume_options
        if m.type is not MountType.VOLUME or not m.source or options is None:
            continue
        if options.driver is None:
            continue
        out.append(
            VolumeCreate(
                name=m.source,
                driver=options.driver.name or None,
                driver_opts=dict(options.driver.options),
                labels=dict(options.labels),
            )
        )
    return tuple(out)


def _host_port(port: PortConfig) -> str:
    """The engine's ``HostPort``: a host-mode published port as asked; "" (the engine
    picks) for one left at 0 and for an ingress port, which the routing mesh listens on
    and forwards to the port the engine picked (port_status; actors/worker/mesh.py)."""
    if port.publish_mode is PublishMode.HOST and port.published_port:
        return str(port.published_port)
    return ""


def port_status(ports: Mapping[str, Any] | None) -> tuple[PortConfig, ...]:
    """The host ports a running container got, from its ``NetworkSettings.Ports``
    (``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, ...]}``): one per target
    and host port, in a stable order. A target bound on IPv4 and IPv6 gets its IPv4 port
    only: an engine may pick a different port for each family (``[::]:32775`` beside
    ``0.0.0.0:32776``), and nodes (and the routing mesh) reach each other on IPv4."""
    found: dict[tuple[int, str], dict[bool, set[int]]] = {}
    for key, bindings in (ports or {}).items():
        target, _, proto = str(key).partition("/")
        if not target.isdigit() or proto not in PortProtocol.__members__.values():
            continue
        for binding in bindings or ():
            host_port = str((binding or {}).get("HostPort") or "")
            if host_port.isdigit():
                v6 = ":" in str((binding or {}).get("HostIp") or "")
                families = found.setdefault((int(target), proto), {})
                families.setdefault(v6, set()).add(int(host_port))
    out: set[tuple[int, str, int]] = set()
    for (number, protocol), families in found.items():
        kept = families.get(False) or families.get(True) or set()
        out.update((number, protocol, port) for port in kept)
    return tuple(
        PortConfig(
            protocol=PortProtocol(protocol),
            target_port=number,
            published_port=published,
            publish_mode=PublishMode.HOST,
        )
        for number, protocol, published in sorted(out)
    )


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


def container_config(
    task: Task,
    file_mounts: tuple[tuple[str, str], ...] = (),
    *,
    publish_ip: str = "",
    networks: tuple[EngineNetwork, ...] = (),
) -> ContainerConfig:
    """The container for ``task``, with its secret and config files at ``file_mounts``,
    publishing on ``publish_ip`` and joining ``networks`` (the task's attachments as this
    node's engine holds them). ValueError for a spec the engine would refuse."""
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
        ports=task.spec.ports,
        publish_ip=publish_ip,
        mounts=spec.mounts,
        networks=networks,
        file_mounts=file_mounts,
        read_only=spec.read_only,
        init=spec.init,
        tty=spec.tty,
        group_add=spec.groups,
        cap_add=spec.cap_add,
        cap_drop=spec.cap_drop,
        ulimits=spec.ulimits,
        sysctls=spec.sysctls,
        dns=spec.dns_config,
        extra_hosts=extra_hosts(spec.hosts),
        pids_limit=spec.pids_limit,
        oom_score_adj=spec.oom_score_adj,
        log_driver=task.spec.log_driver,
    )


def extra_hosts(hosts: tuple[str, ...]) -> tuple[str, ...]:
    """SwarmKit's hosts lines (``IP HOST [ALIAS...]``) as the engine's ``HOST:IP``, one for
    each name of a line (as Docker's swarm executor does)."""
    out: list[str] = []
    for line in hosts:
        ip, *names = line.split()
        out.extend(f"{name}:{ip}" for name in names)
    return tuple(out)
