"""User-owned specifications (SwarmKit ``api/specs.proto``).

All values are frozen dataclasses: change one with ``dataclasses.replace``. Sequences
are tuples; label maps are typed ``Mapping`` and must not be mutated in place. Durations
are float seconds. Defaults are SwarmKit's (``api/defaults``).

Every class has a docstring: a dataclass without one gets one made from
``inspect.signature`` at import, a cost each ``swarmctl`` start pays. The specs of nodes,
networks, secrets, configs and the cluster are in api/cluster_specs.py, and given here
too (imported on first use): building a dataclass costs swarmctl ~3.5M instructions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from api.enums import (
    DependencyCondition,
    EndpointMode,
    FailureAction,
    MountType,
    PortProtocol,
    PublishMode,
    RebalanceMode,
    RestartCondition,
    SchedulePolicy,
    SchedulingStrategy,
    UpdateOrder,
)

__all__ = [
    "SERVICE_MODES",
    "CAConfig",
    "ClusterSpec",
    "ConfigReference",
    "ConfigSpec",
    "ContainerSpec",
    "DNSConfig",
    "Dependency",
    "DispatcherConfig",
    "EncryptionConfig",
    "EndpointSpec",
    "GlobalJob",
    "GlobalService",
    "HealthConfig",
    "JobSchedule",
    "LogDriver",
    "Mount",
    "NetworkAttachmentConfig",
    "NetworkSpec",
    "NodeSpec",
    "OrchestrationConfig",
    "Placement",
    "PlacementPreference",
    "PortConfig",
    "RaftConfig",
    "ReplicatedJob",
    "ReplicatedService",
    "ResourceRequirements",
    "Resources",
    "RestartPolicy",
    "SecretReference",
    "SecretSpec",
    "ServiceMode",
    "ServiceSpec",
    "TaskSpec",
    "Ulimit",
    "UpdateConfig",
    "VolumeDriver",
    "VolumeOptions",
]


def _labels() -> Mapping[str, str]:
    return {}


# --- task template ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """Docker healthcheck. ``test`` as Docker takes it: ``("CMD", ...)``,
    ``("CMD-SHELL", "...")`` or ``("NONE",)``; empty means the image's own."""

    test: tuple[str, ...] = ()
    interval: float = 0.0
    timeout: float = 0.0
    retries: int = 0
    start_period: float = 0.0


@dataclass(frozen=True, slots=True)
class VolumeDriver:
    """The driver a volume is created with and its options (SwarmKit ``Driver``; Docker's
    ``volume-driver`` and ``volume-opt``); an empty name is the engine's default, local."""

    name: str = ""
    options: Mapping[str, str] = field(default_factory=_labels)


@dataclass(frozen=True, slots=True)
class VolumeOptions:
    """How a volume mount's volume is made when the node does not have it yet (SwarmKit
    ``Mount.VolumeOptions``): ``nocopy`` leaves the image's files at the target out of a
    new volume; labels and the driver go to the volume created."""

    nocopy: bool = False
    labels: Mapping[str, str] = field(default_factory=_labels)
    driver: VolumeDriver | None = None


@dataclass(frozen=True, slots=True)
class Mount:
    """``--mount type=volume|bind|tmpfs,source=,target=,readonly`` and, for a volume,
    ``volume-driver=,volume-opt=K=V,volume-label=K=V,volume-nocopy``. A volume without a
    source is anonymous (removed with its container); a named one outlives its tasks."""

    type: MountType = MountType.VOLUME
    source: str = ""  # volume name, or host path for a bind; empty for tmpfs
    target: str = ""  # absolute path in the container
    readonly: bool = False
    volume_options: VolumeOptions | None = None  # volume mounts only


@dataclass(frozen=True, slots=True)
class SecretReference:
    """A secret a task's container gets as the file ``/run/secrets/<target>`` (SwarmKit's
    ``SecretReference`` with its ``File`` target). ``secret_id`` is filled in by the
    manager from ``secret_name`` when the service is written."""

    secret_id: str = ""
    secret_name: str = ""
    target: str = ""  # a relative path under /run/secrets; empty: the secret's name
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


@dataclass(frozen=True, slots=True)
class ConfigReference:
    """A config a task's container gets as the file ``<target>`` (an absolute path;
    empty: ``/<config name>``), as Docker's ``--config``."""

    config_id: str = ""
    config_name: str = ""
    target: str = ""
    uid: int = 0
    gid: int = 0
    mode: int = 0o444


@dataclass(frozen=True, slots=True)
class Ulimit:
    """``--ulimit name=soft[:hard]``: a resource limit of the container's processes
    (setrlimit(2)); -1 is unlimited."""

    name: str = ""
    soft: int = 0
    hard: int = 0


@dataclass(frozen=True, slots=True)
class DNSConfig:
    """``--dns``, ``--dns-search``, ``--dns-option``: the container's resolv.conf (empty:
    the engine's defaults)."""

    nameservers: tuple[str, ...] = ()  # IP addresses
    search: tuple[str, ...] = ()  # domains
    options: tuple[str, ...] = ()  # resolv.conf options: "ndots:2", "timeout:1"


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """The container a task runs: image, command and args, environment, mounts, and the
    kernel-facing options of ``docker service create`` (api/container_options.py)."""

    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # "KEY=value", in order
    labels: Mapping[str, str] = field(default_factory=_labels)
    user: str = ""
    dir: str = ""
    hostname: str = ""
    healthcheck: HealthConfig | None = None
    stop_signal: str = ""  # empty: the image's, else SIGTERM
    stop_grace_period: float = 10.0
    mounts: tuple[Mount, ...] = ()
    secrets: tuple[SecretReference, ...] = ()
    configs: tuple[ConfigReference, ...] = ()
    read_only: bool = False  # the root file system is mounted read-only
    init: bool = False  # an init process (the engine's docker-init) reaps and forwards
    tty: bool = False
    groups: tuple[str, ...] = ()  # supplementary groups, by name or gid
    cap_add: tuple[str, ...] = ()  # "CAP_NET_ADMIN", or "ALL"
    cap_drop: tuple[str, ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    sysctls: Mapping[str, str] = field(default_factory=_labels)
    dns_config: DNSConfig = field(default_factory=DNSConfig)
    hosts: tuple[str, ...] = ()  # /etc/hosts lines, SwarmKit's "IP hostname [alias...]"
    pids_limit: int = 0  # most processes at once (SwarmKit's PidsLimit); 0: unlimited
    oom_score_adj: int = 0  # -1000..1000: how readily the kernel's OOM killer picks it


@dataclass(frozen=True, slots=True)
class LogDriver:
    """``--log-driver NAME --log-opt KEY=VALUE``: where a task's container sends its output
    (SwarmKit's ``TaskSpec.LogDriver``); no driver is the engine's default. An empty
    ``name`` with options (a compose file's ``logging.options`` without ``driver``, an
    Engine API ``LogDriver`` without ``Name``): the engine's default driver, with them."""

    name: str = ""
    options: Mapping[str, str] = field(default_factory=_labels)


@dataclass(frozen=True, slots=True)
class Resources:
    """CPU (nano CPUs) and memory (bytes), as a limit or a reservation."""

    nano_cpus: int = 0  # 1e9 = one CPU
    memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ResourceRequirements:
    """A task's resource limits and reservations."""

    limits: Resources = field(default_factory=Resources)
    reservations: Resources = field(default_factory=Resources)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When and how often a task's slot gets a new task."""

    condition: RestartCondition = RestartCondition.ANY
    delay: float = 5.0
    max_attempts: int = 0  # 0: unlimited
    window: float = 0.0  # 0: attempts are counted over the task's whole history


@dataclass(frozen=True, slots=True)
class PlacementPreference:
    """Spread a service's tasks over the values of a node descriptor."""

    spread: str  # a descriptor: "node.labels.zone" or "engine.labels.x"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a service's tasks may run (constraints) and how they spread."""

    constraints: tuple[str, ...] = ()  # "node.role==manager", "node.labels.zone!=a"
    preferences: tuple[PlacementPreference, ...] = ()
    max_replicas: int = 0  # per node; 0: unlimited
    strategy: SchedulingStrategy = SchedulingStrategy.SPREAD  # swarmnode extension


@dataclass(frozen=True, slots=True)
class PortConfig:
    """A port a service publishes: in ``ingress`` mode (Docker's default) on every node
    of the cluster through the routing mesh, in ``host`` mode on the node that runs each
    task."""

    name: str = ""
    protocol: PortProtocol = PortProtocol.TCP
    target_port: int = 0
    # 0: ingress, the managers allocate one of 30000-32767 (stored in the spec);
    # host, the engine picks a free port per task (port_status)
    published_port: int = 0
    publish_mode: PublishMode = PublishMode.INGRESS


@dataclass(frozen=True, slots=True)
class NetworkAttachmentConfig:
    """``--network NAME``: the control API stores the network's id as ``target``."""

    target: str
    aliases: tuple[str, ...] = ()  # besides the service name, which every task answers to


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """The template of a service's tasks."""

    container: ContainerSpec = field(default_factory=ContainerSpec)
    resources: ResourceRequirements = field(default_factory=ResourceRequirements)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    placement: Placement = field(default_factory=Placement)
    force_update: int = 0  # bumped by `service update --force`
    networks: tuple[NetworkAttachmentConfig, ...] = ()
    # the service's endpoint.ports, copied by the control API (api/host_resources.py
    # `with_task_ports`), never by users: a task carries, and is compared on, its ports
    ports: tuple[PortConfig, ...] = ()
    log_driver: LogDriver | None = None  # None: the engine's default driver


# --- service ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplicatedService:
    """``--mode replicated``: ``replicas`` tasks placed on the cluster."""

    TAG: ClassVar[str] = "replicated"
    replicas: int = 1


@dataclass(frozen=True, slots=True)
class GlobalService:
    """``--mode global``: one task on every eligible node."""

    TAG: ClassVar[str] = "global"


@dataclass(frozen=True, slots=True)
class ReplicatedJob:
    """``--mode replicated-job``: ``total_completions`` successful runs."""

    TAG: ClassVar[str] = "replicated-job"
    max_concurrent: int = 1
    total_completions: int = 1


@dataclass(frozen=True, slots=True)
class GlobalJob:
    """``--mode global-job``: one run to completion on every eligible node."""

    TAG: ClassVar[str] = "global-job"


ServiceMode = ReplicatedService | GlobalService | ReplicatedJob | GlobalJob
SERVICE_MODES: tuple[type[ServiceMode], ...] = (
    ReplicatedService,
    GlobalService,
    ReplicatedJob,
    GlobalJob,
)


@dataclass(frozen=True, slots=True)
class UpdateConfig:
    """How a rolling update (or a rollback) replaces a service's tasks."""

    parallelism: int = 1  # 0: all at once
    delay: float = 0.0
    failure_action: FailureAction = FailureAction.PAUSE
    monitor: float = 5.0
    max_failure_ratio: float = 0.0
    order: UpdateOrder = UpdateOrder.STOP_FIRST


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """The ports a service publishes and how its name resolves (api/endpoint_mode.py)."""

    ports: tuple[PortConfig, ...] = ()
    # a spec written before the mode existed decodes as vip, what every service then was
    mode: EndpointMode = EndpointMode.VIP


@dataclass(frozen=True, slots=True)
class JobSchedule:
    """swarmnode extension: run a job on a cron schedule (api/schedule.py's grammar, UTC)."""

    cron: str = ""
    policy: SchedulePolicy = SchedulePolicy.SKIP  # a run due while the previous one runs


@dataclass(frozen=True, slots=True)
class Dependency:
    """swarmnode extension: ``--depends-on SERVICE[:CONDITION]`` (by service name)."""

    service: str = ""
    condition: DependencyCondition = DependencyCondition.RUNNING


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What a user sets on a service."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=_labels)
    task: TaskSpec = field(default_factory=TaskSpec)
    mode: ServiceMode = field(default_factory=ReplicatedService)
    update_config: UpdateConfig = field(default_factory=UpdateConfig)
    rollback_config: UpdateConfig = field(default_factory=UpdateConfig)
    endpoint: EndpointSpec = field(default_factory=EndpointSpec)
    # swarmnode extensions (issue 10): jobs on a schedule, dependencies, rebalancing
    schedule: JobSchedule | None = None  # jobs only
    depends_on: tuple[Dependency, ...] = ()
    rebalance: RebalanceMode = RebalanceMode.MANUAL
    rebalance_requests: int = 0  # bumped by `service rebalance`, as force_update by --force


# The specs of nodes, networks, secrets, configs and the cluster live in
# api/cluster_specs.py, imported on first use of one of their names here.
_CLUSTER_SPECS: frozenset[str] = frozenset(
    {
        "CAConfig",
        "ClusterSpec",
        "ConfigSpec",
        "DispatcherConfig",
        "EncryptionConfig",
        "NetworkSpec",
        "NodeSpec",
        "OrchestrationConfig",
        "RaftConfig",
        "SecretSpec",
    }
)

if TYPE_CHECKING:
    from api.cluster_specs import (
        CAConfig,
        ClusterSpec,
        ConfigSpec,
        DispatcherConfig,
        EncryptionConfig,
        NetworkSpec,
        NodeSpec,
        OrchestrationConfig,
        RaftConfig,
        SecretSpec,
    )


def __getattr__(name: str) -> Any:
    if name in _CLUSTER_SPECS:
        from api import cluster_specs

        value = getattr(cluster_specs, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
