"""Scheduling filters and the pipeline that runs them (SwarmKit ``manager/scheduler``).

Rules:
- A filter looks at one (demand, node) pair and returns None when the node can take the
  task, or a short reason when it cannot (``insufficient memory``). Reasons read well
  followed by "on N nodes": the pipeline's explanation is built from them.
- A filter is *static* when its verdict depends only on the node and the demand, and
  *dynamic* when it changes as tasks are placed on the node during the same pass
  (resources, host ports, max replicas). Static filters run once per node per task group.
- Filters with nothing to check for a demand (no constraints, no reservations) are skipped.
- A node that does not report its executor (older than the report) is taken as the
  docker executor (``ExecutorFilter``): tasks were placed on every node before nodes
  reported, and an upgrade must not strand a service on its older nodes.
- ``GroupCheck`` counts, per reason, how many nodes were turned down; each node is counted
  once, for the first filter that rejected it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final, Protocol

from actors.scheduler.constraints import match_constraint
from actors.scheduler.demand import Demand
from actors.scheduler.nodeinfo import NodeInfo
from api.enums import NodeAvailability, NodeState
from api.executor_capabilities import cannot_honour, unmet

__all__ = [
    "DEFAULT_FILTERS",
    "MAX_REASONS",
    "ConstraintFilter",
    "ExecutorFilter",
    "Filter",
    "GroupCheck",
    "HostPortFilter",
    "MaxReplicasFilter",
    "Pipeline",
    "PlatformFilter",
    "ReadyFilter",
    "ResourceFilter",
    "explain",
]

NO_SUITABLE_NODE = "no suitable node"
# reasons a pending message names at most: most are the filters' own words, but each node
# names its executor's kind, so a cluster of nodes reporting many kinds would otherwise
# put as many reasons into every pending task's status
MAX_REASONS: Final = 10
NO_NODES = "no-nodes"


class Filter(Protocol):
    name: ClassVar[str]
    dynamic: ClassVar[bool]

    def enabled(self, demand: Demand) -> bool:
        """False when the filter has nothing to check for this demand."""
        ...

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        """None when ``node`` passes, else why it does not."""
        ...


class ReadyFilter:
    """The node is READY and its availability ACTIVE."""

    name: ClassVar[str] = "ready"
    dynamic: ClassVar[bool] = False

    def enabled(self, demand: Demand) -> bool:
        return True

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        n = node.node
        if n.status.state != NodeState.READY:
            return "node not ready"
        if n.spec.availability == NodeAvailability.DRAIN:
            return "node drained"
        if n.spec.availability != NodeAvailability.ACTIVE:
            return "node paused"
        return None


class ResourceFilter:
    """The node's free nano-CPUs and memory cover the task's reservations."""

    name: ClassVar[str] = "resources"
    dynamic: ClassVar[bool] = True

    def enabled(self, demand: Demand) -> bool:
        return demand.nano_cpus > 0 or demand.memory_bytes > 0

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        cpu = demand.nano_cpus > node.free_cpus
        mem = demand.memory_bytes > node.free_memory
        if cpu and mem:
            return "insufficient CPU and memory"
        if cpu:
            return "insufficient CPU"
        if mem:
            return "insufficient memory"
        return None


class ConstraintFilter:
    """Every placement constraint holds on the node; the reason names the first that
    does not."""

    name: ClassVar[str] = "constraints"
    dynamic: ClassVar[bool] = False

    def enabled(self, demand: Demand) -> bool:
        return bool(demand.constraints)

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        for c in demand.constraints:
            if not match_constraint(c, node.node):
                return f"constraint {c} not satisfied"
        return None


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}


def _arch(value: str) -> str:
    v = value.strip().lower()
    return _ARCH_ALIASES.get(v, v)


class PlatformFilter:
    """The node's OS and architecture are among the task's platforms (an empty field in
    a wanted platform matches anything; ``x86_64`` is ``amd64``, ``aarch64`` ``arm64``)."""

    name: ClassVar[str] = "platform"
    dynamic: ClassVar[bool] = False

    def enabled(self, demand: Demand) -> bool:
        return bool(demand.platforms)

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        desc = node.node.description
        os_ = desc.platform.os.strip().lower() if desc is not None else ""
        arch = _arch(desc.platform.architecture) if desc is not None else ""
        for p in demand.platforms:
            if (not p.os or p.os.strip().lower() == os_) and (
                not p.architecture or _arch(p.architecture) == arch
            ):
                return None
        return "unsupported platform"


class ExecutorFilter:
    """The node's executor can honour what the task uses (``--limit-pids``, ``--mount``,
    ...: api/executor_capabilities.py); the reason names the executor and what it lacks,
    as SwarmKit's plugin filter names a missing plugin."""

    name: ClassVar[str] = "executor"
    dynamic: ClassVar[bool] = False

    def enabled(self, demand: Demand) -> bool:
        return bool(demand.executor_needs)

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        desc = node.node.description
        executor = desc.executor if desc is not None else None
        if executor is None:  # not reported: taken as docker (module rules)
            return None
        missing = unmet(demand.executor_needs, executor.capabilities)
        return cannot_honour(executor.kind, missing) if missing else None


class HostPortFilter:
    """No task on the node already publishes one of the task's host-mode ports."""

    name: ClassVar[str] = "host-ports"
    dynamic: ClassVar[bool] = True

    def enabled(self, demand: Demand) -> bool:
        return bool(demand.host_ports)

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        for proto, port in sorted(demand.host_ports, key=lambda p: (p[1], p[0])):
            if node.port_in_use((proto, port)):
                return f"host port {port}/{proto} in use"
        return None


class MaxReplicasFilter:
    """The node runs fewer than ``max_replicas`` tasks of the service."""

    name: ClassVar[str] = "max-replicas"
    dynamic: ClassVar[bool] = True

    def enabled(self, demand: Demand) -> bool:
        return demand.max_replicas > 0

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        if node.service_tasks(demand.service_id) >= demand.max_replicas:
            return f"max replicas per node ({demand.max_replicas}) reached"
        return None


DEFAULT_FILTERS: tuple[Filter, ...] = (
    ReadyFilter(),
    ResourceFilter(),
    ConstraintFilter(),
    PlatformFilter(),
    ExecutorFilter(),
    HostPortFilter(),
    MaxReplicasFilter(),
)


class GroupCheck:
    """The filters enabled for one demand, with their rejection counts."""

    def __init__(self, demand: Demand, filters: Sequence[Filter]) -> None:
        self.demand = demand
        self._names = tuple(f.name for f in filters)
        enabled = [(i, f) for i, f in enumerate(filters) if f.enabled(demand)]
        self._static = [(i, f) for i, f in enabled if not f.dynamic]
        self._dynamic = [(i, f) for i, f in enabled if f.dynamic]
        self._rejected: dict[str, int] = {}  # reason -> number of nodes
        self._counted: set[str] = set()  # nodes already counted under some reason
        self._order: dict[str, int] = {}  # reason -> filter position, for the message
        self.nodes_seen: set[str] = set()

    def _run(self, which: list[tuple[int, Filter]], node: NodeInfo) -> bool:
        self.nodes_seen.add(node.id)
        for pos, f in which:
            reason = f.check(self.demand, node)
            if reason is not None:
                self._reject(pos, reason, node.id)
                return False
        return True

    def _reject(self, pos: int, reason: str, node_id: str) -> None:
        if node_id in self._counted:
            return
        self._counted.add(node_id)
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        self._order.setdefault(reason, pos)

    def static(self, node: NodeInfo) -> bool:
        """Filters whose verdict cannot change during this pass."""
        return self._run(self._static, node)

    def dynamic(self, node: NodeInfo) -> bool:
        """Filters whose verdict depends on what was placed on the node so far."""
        return self._run(self._dynamic, node)

    def passes(self, node: NodeInfo) -> bool:
        return self.static(node) and self.dynamic(node)

    @property
    def rejections(self) -> dict[str, int]:
        """Reason → number of nodes, in filter order."""
        items = sorted(self._rejected.items(), key=lambda kv: (self._order[kv[0]], kv[0]))
        return dict(items)

    def explain(self) -> str:
        return explain(self.rejections)

    @property
    def blocking_filter(self) -> str:
        """The name of the filter that turned down the most nodes (the first in filter
        order on a tie); ``no-nodes`` when no node was looked at."""
        by_filter: dict[str, int] = {}
        for reason, count in self._rejected.items():
            name = self._names[self._order[reason]]
            by_filter[name] = by_filter.get(name, 0) + count
        if not by_filter:
            return NO_NODES
        return max(by_filter, key=lambda name: (by_filter[name], -self._names.index(name)))


def explain(rejections: dict[str, int]) -> str:
    """``no suitable node (insufficient memory on 2 nodes; ...)``: the first
    `MAX_REASONS` reasons, the rest counted together."""
    if not rejections:
        return f"{NO_SUITABLE_NODE} (no nodes available)"
    items = list(rejections.items())
    parts = [f"{reason} on {_nodes(n)}" for reason, n in items[:MAX_REASONS]]
    rest = items[MAX_REASONS:]
    if rest:
        parts.append(f"{len(rest)} other reasons on {_nodes(sum(n for _, n in rest))}")
    return f"{NO_SUITABLE_NODE} ({'; '.join(parts)})"


def _nodes(n: int) -> str:
    return f"{n} node{'s' if n != 1 else ''}"


class Pipeline:
    """The filters, in order; ``group`` starts the checks for one task group."""

    def __init__(self, filters: Sequence[Filter] = DEFAULT_FILTERS) -> None:
        self.filters = tuple(filters)

    def group(self, demand: Demand) -> GroupCheck:
        return GroupCheck(demand, self.filters)

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        """One node's verdict: None, or the first reason it was rejected."""
        rejection = self.rejection(demand, node)
        return rejection[1] if rejection is not None else None

    def rejection(self, demand: Demand, node: NodeInfo) -> tuple[str, str] | None:
        """None, or the name of the first filter that rejected ``node`` and its reason."""
        for f in self.filters:
            if f.enabled(demand):
                reason = f.check(demand, node)
                if reason is not None:
                    return f.name, reason
        return None
