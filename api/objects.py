"""Stored objects (SwarmKit ``api/objects.proto``): ``Node``, ``Service``, ``Task``,
``Cluster``, ``Network``, ``Secret``, ``Config``.

Each has an ``id``, a ``meta`` the store maintains (``version`` is the Raft index of the
object's last change), a user-owned ``spec`` and system-owned fields, each with one
owner: the scheduler owns ``Task.node_id``, the worker ``Task.status``, the orchestrator
``Task.desired_state``, the dispatcher ``Node.status``. Objects are frozen: change one with
``dataclasses.replace`` and write it back with the ``meta`` you read (a stale version is
a conflict).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, is_dataclass

from api.enums import JobState, NodeRole, NodeState, Reachability, RebalanceState, UpdateState
from api.objects_init import fast_init
from api.specs import (
    ClusterSpec,
    ConfigSpec,
    NetworkSpec,
    NodeSpec,
    PortConfig,
    Resources,
    SecretSpec,
    ServiceSpec,
    TaskSpec,
)
from api.task_state import TaskState

__all__ = [
    "OBJECT_TYPES",
    "Cluster",
    "Config",
    "ContainerStatus",
    "EngineDescription",
    "ExecutorDescription",
    "JobStatus",
    "JoinTokens",
    "ManagerStatus",
    "Meta",
    "Network",
    "Node",
    "NodeDescription",
    "NodeStatus",
    "NodeTLSInfo",
    "Object",
    "ObjectKind",
    "Platform",
    "RebalanceStatus",
    "RegistryAuth",
    "RevokedCertificate",
    "RootCA",
    "RootRotation",
    "Secret",
    "Service",
    "SpecRevision",
    "Task",
    "TaskStatus",
    "UpdateStatus",
    "kind_of",
]


class ObjectKind(enum.StrEnum):
    NODE = "node"
    SERVICE = "service"
    TASK = "task"
    CLUSTER = "cluster"
    NETWORK = "network"
    SECRET = "secret"
    CONFIG = "config"


@dataclass(frozen=True, slots=True)
class Meta:
    version: int = 0  # Raft index of the last change; 0 before the object is stored
    created_at: float = 0.0  # seconds since the epoch, from the proposing manager's clock
    updated_at: float = 0.0


def _labels() -> Mapping[str, str]:
    return {}


# --- node ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Platform:
    os: str = ""  # "linux"
    architecture: str = ""  # "x86_64"


@dataclass(frozen=True, slots=True)
class EngineDescription:
    engine_version: str = ""
    labels: Mapping[str, str] = field(default_factory=_labels)


@dataclass(frozen=True, slots=True)
class ExecutorDescription:
    """What runs the node's tasks (``swarm-node --executor``): its kind and the
    capabilities it can honour (api/executor_capabilities.py), for the scheduler to place
    a task only where it can run."""

    kind: str = ""
    capabilities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeTLSInfo:
    """The certificate a node uses, as the node itself reports it (SwarmKit's NodeTLSInfo):
    the digests of the roots it trusts (api/node_tls.py bounds them), and the subject and
    public key (DER: the name and SubjectPublicKeyInfo) of the CA that issued its
    certificate. A root CA rotation completes only once every node reports the new root as
    its certificate's issuer (actors/ca/rotation.py)."""

    trust_roots: tuple[str, ...] = ()
    cert_issuer_subject: bytes = b""
    cert_issuer_public_key: bytes = b""


@dataclass(frozen=True, slots=True)
class NodeDescription:
    """What the node reports about itself when its session starts. ``executor`` None: the
    node did not say (a node older than the field, or one not yet in session); the
    scheduler then assumes the docker executor's capabilities, as it placed tasks on
    every node before nodes reported them, so an upgrade never strands a service on its
    older (docker) nodes. ``tls_info`` None: the node never reported its certificate (a
    node older than the report): a root rotation waits for it, as SwarmKit's does."""

    hostname: str = ""
    platform: Platform = field(default_factory=Platform)
    resources: Resources = field(default_factory=Resources)
    engine: EngineDescription = field(default_factory=EngineDescription)
    executor: ExecutorDescription | None = None
    tls_info: NodeTLSInfo | None = None  # owner: the node (its session and heartbeats)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    state: NodeState = NodeState.UNKNOWN
    message: str = ""
    addr: str = ""  # the address the node's session comes from


@dataclass(frozen=True, slots=True)
class ManagerStatus:
    raft_id: int = 0
    addr: str = ""  # Raft address, host:port
    leader: bool = False
    reachability: Reachability = Reachability.UNKNOWN


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    meta: Meta = field(default_factory=Meta)
    spec: NodeSpec = field(default_factory=NodeSpec)
    description: NodeDescription | None = None
    status: NodeStatus = field(default_factory=NodeStatus)
    manager_status: ManagerStatus | None = None
    role: NodeRole = NodeRole.WORKER  # the role it has now (spec.desired_role: wanted)
    certificate: bytes = b""  # PEM of its current certificate; owner: the CA service

    @property
    def hostname(self) -> str:
        return self.description.hostname if self.description is not None else ""


# --- service ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    state: UpdateState = UpdateState.UNKNOWN
    started_at: float | None = None
    completed_at: float | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """Credentials for pulling a service's image (``--with-registry-auth``, from the user's
    docker config). A secret: only in the encrypted Raft log, in memory on the nodes that
    run the service's tasks, and never in an inspect answer or a log line."""

    server_address: str = ""  # the registry, as the docker config names it
    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)  # OAuth refresh token, not a password


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A job's runs (owner: the orchestrator). Each task records the run it belongs to
    (``Task.job_iteration``); a new run is a new iteration."""

    iteration: int = 0  # the current run; 0 before the first
    spec_version: int = 0  # the service's spec_version when the run started
    force_update: int = 0  # the task spec's force_update then (a scheduled job reruns on it)
    started_at: float = 0.0
    state: JobState = JobState.RUNNING  # of the current run
    finished_at: float | None = None  # when the current run completed or failed
    last_scheduled: float | None = None  # scheduled jobs: the last due time acted on
    message: str = ""  # what the last run or the schedule did ("run 2 skipped: ...")


@dataclass(frozen=True, slots=True)
class RebalanceStatus:
    """A rebalance of a replicated service (owner: the orchestrator)."""

    round: int = 0  # the spec's rebalance_requests this status answers
    state: RebalanceState = RebalanceState.COMPLETED
    started_at: float | None = None
    completed_at: float | None = None
    moved: int = 0  # tasks moved in this round
    message: str = ""


@dataclass(frozen=True, slots=True)
class SpecRevision:
    """One spec a service had (its history: ``swarmctl service history``)."""

    version: int  # the service's spec_version while it had this spec
    spec: ServiceSpec
    at: float  # when it became the service's spec (the writing manager's clock)
    origin: str = ""  # how: "create", "update", "rollback", "rollback to version 3", ...


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    meta: Meta = field(default_factory=Meta)
    spec: ServiceSpec = field(default_factory=ServiceSpec)
    spec_version: int = 0  # bumped by each spec change; tasks record the one they run
    previous_spec: ServiceSpec | None = None  # for rollback
    update_status: UpdateStatus | None = None
    pending_delete: bool = False  # `service rm` ran; the orchestrator removes its tasks
    # owner: the control API; views drop it (actors/control/views.py `public_service`)
    registry_auth: RegistryAuth | None = None
    job_status: JobStatus | None = None  # jobs only
    rebalance_status: RebalanceStatus | None = None
    # the last specs, oldest first, the current one last (actors/orchestrator/history.py)
    spec_history: tuple[SpecRevision, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name


# --- task ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    container_id: str = ""
    pid: int = 0
    exit_code: int = 0


@dataclass(frozen=True, slots=True)
class TaskStatus:
    timestamp: float = 0.0
    state: TaskState = TaskState.NEW
    message: str = ""  # human-readable: "started", "no suitable node (...)"
    err: str = ""  # the error that made the task fail or be rejected
    container_status: ContainerStatus | None = None
    port_status: tuple[PortConfig, ...] = ()
    started_at: float = 0.0  # when it first ran (RUNNING); 0: never. Owner: the worker


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    meta: Meta = field(default_factory=Meta)
    spec: TaskSpec = field(default_factory=TaskSpec)
    service_id: str = ""
    service_name: str = ""  # for container names: <service>.<slot>.<task id>
    slot: int = 0  # replicated services: 1..N; global services: 0 (node_id identifies)
    node_id: str = ""  # owner: the scheduler (or the orchestrator for global services)
    desired_state: TaskState = TaskState.NEW  # owner: the orchestrator
    status: TaskStatus = field(default_factory=TaskStatus)  # owner: the worker
    spec_version: int = 0  # the service's spec_version this task was created from
    labels: Mapping[str, str] = field(default_factory=_labels)
    job_iteration: int = 0  # jobs: the run (``JobStatus.iteration``) this task belongs to
    # the service's labels when the task was made (SwarmKit's ServiceAnnotations), for
    # templates ({{.Service.Labels.KEY}}, api/templates.py) expanded on the node
    service_labels: Mapping[str, str] = field(default_factory=_labels)


# --- cluster ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RootRotation:
    """A root CA rotation under way (SwarmKit's RootRotation): the new root, its key, and
    the new root's key certified by the current root, so nodes that still trust only the
    current root can verify what the new one issues."""

    ca_cert: bytes = b""  # PEM
    ca_key: bytes = b""  # PEM; managers only, stored like RootCA.ca_key
    cross_signed_ca_cert: bytes = b""  # PEM, issued by the current root
    # PEM: the roots of the rotations this one replaced (a --rotate during a rotation),
    # still trusted until it completes: the nodes they certified renew under this one
    superseded_ca_certs: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class RootCA:
    ca_cert: bytes = b""  # PEM
    ca_key: bytes = b""  # PEM; managers only, possibly wrapped by the unlock key
    ca_cert_hash: str = ""  # digest used in join tokens
    root_rotation: RootRotation | None = None  # owner: the CA service
    # the spec's ca_config.force_rotate the last rotation was started for
    last_forced_rotation: int = 0
    # PEM: this root certified by the one before it (the last rotation's cross-signature),
    # by which a node that missed its renewal's reply still comes to trust this root
    cross_signed_ca_cert: bytes = b""


@dataclass(frozen=True, slots=True)
class JoinTokens:
    worker: str = ""
    manager: str = ""


@dataclass(frozen=True, slots=True)
class RevokedCertificate:
    """A certificate refused before its expiry (its node was removed or demoted)."""

    node_id: str
    serial: str  # hex (serials exceed msgpack's 64-bit integers)
    curve_public_key: str  # Z85
    not_after: float  # may be pruned from the list after this time
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    meta: Meta = field(default_factory=Meta)
    spec: ClusterSpec = field(default_factory=ClusterSpec)
    root_ca: RootCA = field(default_factory=RootCA)
    join_tokens: JoinTokens = field(default_factory=JoinTokens)
    unlock_key: bytes = b""
    revoked: tuple[RevokedCertificate, ...] = ()  # owner: the CA service

    @property
    def name(self) -> str:
        return self.spec.name


# --- network ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    meta: Meta = field(default_factory=Meta)
    spec: NetworkSpec = field(default_factory=NetworkSpec)

    @property
    def name(self) -> str:
        return self.spec.name


# --- secrets and configs ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Secret:
    """Its data is in ``spec.data``: never shown by the control API, sent only to the
    nodes whose assigned tasks reference it (actors/dispatcher)."""

    id: str
    meta: Meta = field(default_factory=Meta)
    spec: SecretSpec = field(default_factory=SecretSpec)

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class Config:
    id: str
    meta: Meta = field(default_factory=Meta)
    spec: ConfigSpec = field(default_factory=ConfigSpec)

    @property
    def name(self) -> str:
        return self.spec.name


Object = Node | Service | Task | Cluster | Network | Secret | Config

_KINDS: dict[type[Object], ObjectKind] = {
    Node: ObjectKind.NODE,
    Service: ObjectKind.SERVICE,
    Task: ObjectKind.TASK,
    Cluster: ObjectKind.CLUSTER,
    Network: ObjectKind.NETWORK,
    Secret: ObjectKind.SECRET,
    Config: ObjectKind.CONFIG,
}
OBJECT_TYPES: dict[ObjectKind, type[Object]] = {kind: cls for cls, kind in _KINDS.items()}


# every dataclass of the object model is built often (each write of each task): faster
# construction than the frozen dataclass __init__ (objects_init.py)
for _cls in list(globals().values()):
    if isinstance(_cls, type) and is_dataclass(_cls) and _cls.__module__ == __name__:
        fast_init(_cls)
del _cls


def kind_of(obj: Object) -> ObjectKind:
    """The kind of a stored object; TypeError for anything else."""
    try:
        return _KINDS[type(obj)]
    except KeyError:
        raise TypeError(f"not a stored object: {type(obj).__name__}") from None
