"""``NodeInfo``: the scheduler's running account of one node.

Rules:
- A task counts on its node (tasks, per-service counts, reserved resources, host ports)
  from the moment it is assigned there until its observed state is terminal or it is
  deleted. Adding a task twice or removing an unknown one changes nothing.
- Free resources are the node's reported resources minus the reservations of its tasks;
  a node that has not reported (no description) has none.
- Failures of a service's tasks on the node are remembered for ``FAILURE_WINDOW`` seconds;
  ``MAX_FAILURES`` of them in that window push the node behind every other for that service.
"""

from __future__ import annotations

from collections import deque

from actors.scheduler.demand import HostPort, Usage
from api.objects import Node

__all__ = ["FAILURE_WINDOW", "MAX_FAILURES", "NodeInfo"]

FAILURE_WINDOW = 300.0  # seconds (SwarmKit's monitorFailures: 5 minutes)
MAX_FAILURES = 5


class NodeInfo:
    __slots__ = (
        "_failures",
        "_ports",
        "by_service",
        "node",
        "reserved_cpus",
        "reserved_memory",
        "tasks",
    )

    def __init__(self, node: Node) -> None:
        self.node = node
        self.tasks: dict[str, Usage] = {}
        self.by_service: dict[str, int] = {}
        self.reserved_cpus = 0
        self.reserved_memory = 0
        self._ports: dict[HostPort, int] = {}
        self._failures: dict[str, deque[float]] = {}

    def __repr__(self) -> str:
        return f"NodeInfo({self.node.id}, tasks={len(self.tasks)})"

    @property
    def id(self) -> str:
        return self.node.id

    # --- capacity ----------------------------------------------------------------------

    @property
    def total_cpus(self) -> int:
        d = self.node.description
        return d.resources.nano_cpus if d is not None else 0

    @property
    def total_memory(self) -> int:
        d = self.node.description
        return d.resources.memory_bytes if d is not None else 0

    @property
    def free_cpus(self) -> int:
        return self.total_cpus - self.reserved_cpus

    @property
    def free_memory(self) -> int:
        return self.total_memory - self.reserved_memory

    @property
    def active_tasks(self) -> int:
        return len(self.tasks)

    def service_tasks(self, service_id: str) -> int:
        return self.by_service.get(service_id, 0)

    def port_in_use(self, port: HostPort) -> bool:
        return self._ports.get(port, 0) > 0

    def load(self) -> float:
        """How full the node is by reserved resources: the sum of the reserved fractions
        of CPU and memory (0 .. 2); resources the node does not report count as empty."""
        cpu = self.reserved_cpus / self.total_cpus if self.total_cpus > 0 else 0.0
        mem = self.reserved_memory / self.total_memory if self.total_memory > 0 else 0.0
        return cpu + mem

    # --- changes -----------------------------------------------------------------------

    def add_task(self, task_id: str, usage: Usage) -> bool:
        if task_id in self.tasks:
            return False
        self.tasks[task_id] = usage
        self.by_service[usage.service_id] = self.by_service.get(usage.service_id, 0) + 1
        self.reserved_cpus += usage.nano_cpus
        self.reserved_memory += usage.memory_bytes
        for port in usage.host_ports:
            self._ports[port] = self._ports.get(port, 0) + 1
        return True

    def remove_task(self, task_id: str) -> Usage | None:
        usage = self.tasks.pop(task_id, None)
        if usage is None:
            return None
        left = self.by_service[usage.service_id] - 1
        if left:
            self.by_service[usage.service_id] = left
        else:
            del self.by_service[usage.service_id]
        self.reserved_cpus -= usage.nano_cpus
        self.reserved_memory -= usage.memory_bytes
        for port in usage.host_ports:
            n = self._ports[port] - 1
            if n:
                self._ports[port] = n
            else:
                del self._ports[port]
        return usage

    def record_failure(self, service_id: str, now: float) -> None:
        self._failures.setdefault(service_id, deque()).append(now)

    def recent_failures(self, service_id: str, now: float) -> int:
        times = self._failures.get(service_id)
        if not times:
            return 0
        while times and times[0] < now - FAILURE_WINDOW:
            times.popleft()
        if not times:
            del self._failures[service_id]
            return 0
        return len(times)
