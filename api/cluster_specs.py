"""User-owned specifications of the objects other than services: nodes, networks,
secrets, configs and the cluster (SwarmKit ``api/specs.proto``), under api/specs.py's
rules. `api.specs` gives these names too, importing this module on first use: swarmctl's
service commands do not pay for building these classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from api.enums import NodeAvailability, NodeRole

__all__ = [
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
]


def _labels() -> Mapping[str, str]:
    return {}


# --- node ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """What a user sets on a node: name, labels, role and availability."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=_labels)
    desired_role: NodeRole = NodeRole.WORKER
    availability: NodeAvailability = NodeAvailability.ACTIVE


# --- secrets and configs ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """A secret's name, labels and data. The data lives only in the (encrypted) Raft log
    and in memory or on a tmpfs of the nodes whose tasks use it: no control reply shows it."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=_labels)
    data: bytes = b""
    templating: str = ""  # a template driver ("golang"): the data is a template


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """A config: like a secret, but not secret (``config inspect`` shows its data)."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=_labels)
    data: bytes = b""
    templating: str = ""  # a template driver ("golang"): the data is a template


# --- cluster ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrchestrationConfig:
    """How much history the cluster keeps."""

    task_history_retention_limit: int = 5  # terminal tasks kept per slot
    service_history_limit: int = 10  # specs kept per service (the current one included)


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """The managers' Raft settings."""

    snapshot_interval: int = 10_000  # entries between snapshots
    keep_old_snapshots: int = 0
    log_entries_for_slow_followers: int = 500
    heartbeat_tick: int = 1
    election_tick: int = 10


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    """The dispatcher's heartbeat period for worker sessions."""

    heartbeat_period: float = 5.0


@dataclass(frozen=True, slots=True)
class CAConfig:
    """How long the certificates the cluster's CA issues last."""

    node_cert_expiry: float = 90 * 24 * 3600.0
    # raised by one to ask for a root CA rotation (Docker's CAConfig.ForceRotate)
    force_rotate: int = 0


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    """Whether managers lock their keys at rest (autolock)."""

    auto_lock_managers: bool = False


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """What a user sets on the cluster."""

    name: str = "default"
    labels: Mapping[str, str] = field(default_factory=_labels)
    orchestration: OrchestrationConfig = field(default_factory=OrchestrationConfig)
    raft: RaftConfig = field(default_factory=RaftConfig)
    dispatcher: DispatcherConfig = field(default_factory=DispatcherConfig)
    ca_config: CAConfig = field(default_factory=CAConfig)
    encryption_config: EncryptionConfig = field(default_factory=EncryptionConfig)
    allow_bind_mounts: bool = False  # a bind mount gives a service the host


# --- network ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """A network: one bridge on each node's engine where a task attached to it runs.
    Immutable once created, as Docker's."""

    name: str = ""
    labels: Mapping[str, str] = field(default_factory=_labels)
    driver: str = "bridge"  # the only driver: no cross-node (overlay) networks
    internal: bool = False  # no route out of the node (Docker's --internal)
