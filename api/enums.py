"""Enumerations of the object model. Every one is a ``StrEnum`` whose value is the
lower-case word the CLI prints and accepts (``drain``, ``on-failure``, ``start-first``).
The codec writes them by value; ``TaskState`` (an ``IntEnum``, api/task_state.py) is the
only integer enumeration, because its order matters.
"""

from __future__ import annotations

import enum

__all__ = [
    "DependencyCondition",
    "EndpointMode",
    "FailureAction",
    "JobState",
    "MountType",
    "NodeAvailability",
    "NodeRole",
    "NodeState",
    "PortProtocol",
    "PublishMode",
    "Reachability",
    "RebalanceMode",
    "RebalanceState",
    "RestartCondition",
    "SchedulePolicy",
    "SchedulingStrategy",
    "UpdateOrder",
    "UpdateState",
]


class NodeRole(enum.StrEnum):
    WORKER = "worker"
    MANAGER = "manager"


class NodeAvailability(enum.StrEnum):
    ACTIVE = "active"  # tasks may be scheduled here
    PAUSE = "pause"  # no new tasks; existing tasks keep running
    DRAIN = "drain"  # no new tasks; existing tasks are moved away


class NodeState(enum.StrEnum):
    UNKNOWN = "unknown"
    DOWN = "down"
    READY = "ready"
    DISCONNECTED = "disconnected"


class Reachability(enum.StrEnum):
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"
    REACHABLE = "reachable"


class RestartCondition(enum.StrEnum):
    NONE = "none"
    ON_FAILURE = "on-failure"
    ANY = "any"


class FailureAction(enum.StrEnum):
    PAUSE = "pause"
    CONTINUE = "continue"
    ROLLBACK = "rollback"


class UpdateOrder(enum.StrEnum):
    STOP_FIRST = "stop-first"
    START_FIRST = "start-first"


class UpdateState(enum.StrEnum):
    UNKNOWN = "unknown"
    UPDATING = "updating"
    PAUSED = "paused"
    COMPLETED = "completed"
    ROLLBACK_STARTED = "rollback_started"
    ROLLBACK_PAUSED = "rollback_paused"
    ROLLBACK_COMPLETED = "rollback_completed"


class PortProtocol(enum.StrEnum):
    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class PublishMode(enum.StrEnum):
    INGRESS = "ingress"  # the routing mesh: every node listens (actors/worker/mesh*.py)
    HOST = "host"


class EndpointMode(enum.StrEnum):
    """How a service's name resolves (Docker's ResolutionMode, api/endpoint_mode.py).
    swarmnode has no virtual IP: in both modes the name resolves to the addresses of the
    service's tasks on the asking task's node and network."""

    VIP = "vip"  # Docker's default; here it differs from dnsrr only by allowing ingress ports
    DNSRR = "dnsrr"  # no ingress ports (SwarmKit's rule)


class MountType(enum.StrEnum):
    VOLUME = "volume"  # a named (or anonymous) volume of the node's engine
    BIND = "bind"  # a host path: refused unless the cluster allows bind mounts
    TMPFS = "tmpfs"


class SchedulingStrategy(enum.StrEnum):
    """swarmnode extension: Swarm classic's strategies, chosen per service."""

    SPREAD = "spread"
    BINPACK = "binpack"
    RANDOM = "random"


class SchedulePolicy(enum.StrEnum):
    """What a scheduled job does when a run is due while the previous one still runs."""

    SKIP = "skip"  # start nothing; the next due time may find it done
    REPLACE = "replace"  # stop the previous run, start the new one
    ALLOW = "allow"  # start the new run beside the previous one


class DependencyCondition(enum.StrEnum):
    """What ``--depends-on SERVICE:CONDITION`` waits for."""

    RUNNING = "running"  # every desired task started (STARTING or RUNNING)
    HEALTHY = "healthy"  # every desired task RUNNING (past its healthcheck, if any)
    COMPLETED = "completed"  # a job's current run completed


class RebalanceMode(enum.StrEnum):
    MANUAL = "manual"  # only on `swarmctl service rebalance`
    AUTO = "auto"  # whenever a node could take a share of the service's tasks


class RebalanceState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class JobState(enum.StrEnum):
    """A job run's outcome so far."""

    RUNNING = "running"
    COMPLETED = "completed"  # every slot completed
    FAILED = "failed"  # a slot's restart policy gave up
