"""Choosing nodes for a group of tasks: spread, binpack, random, placement preferences.

Rules:
- Static filters run once per node per group; the nodes that pass are the candidates.
  Dynamic filters run again each time a node is about to take one more task; a node that
  fails them is dropped for the rest of the group (placing tasks only uses capacity up).
- ``spread`` (SwarmKit's default): fewest tasks of this service, then fewest tasks overall,
  then node id. A node where the service failed ``MAX_FAILURES`` times in the last
  ``FAILURE_WINDOW`` seconds goes behind every node that did not.
- ``binpack`` (Swarm classic): the most loaded node that still fits, by reserved CPU and
  memory fractions, then the one with the most tasks; recent failures as for spread.
- ``random`` (Swarm classic): any node that fits, drawn from the injected ``random.Random``.
- Placement preferences (``spread=node.labels.X``) build a tree: one level per
  preference, one branch per label value (nodes without the label share the "" branch).
  Each task goes down the branch holding the fewest tasks of the service, so tasks spread
  evenly across values; a branch with no room left is skipped. The leaves order their
  nodes by the service's strategy.
- Each choice costs O(log nodes) (heaps): a group of N tasks costs O(N log nodes), after the
  O(nodes) static pass.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from actors.scheduler.constraints import spread_value
from actors.scheduler.demand import Demand
from actors.scheduler.filters import GroupCheck
from actors.scheduler.nodeinfo import MAX_FAILURES, NodeInfo
from api.enums import SchedulingStrategy

__all__ = ["Chooser", "binpack_key", "place_group", "spread_key"]

SortKey = tuple[int, float, int, str]


class Chooser(Protocol):
    def place(self, task_id: str) -> NodeInfo | None:
        """Put the task on the best node that can take it; None when none can."""
        ...


def _failures(node: NodeInfo, service_id: str, now: float) -> int:
    n = node.recent_failures(service_id, now)
    return n if n >= MAX_FAILURES else 0


def spread_key(node: NodeInfo, demand: Demand, now: float) -> SortKey:
    return (
        _failures(node, demand.service_id, now),
        float(node.service_tasks(demand.service_id)),
        node.active_tasks,
        node.id,
    )


def binpack_key(node: NodeInfo, demand: Demand, now: float) -> SortKey:
    return (_failures(node, demand.service_id, now), -node.load(), -node.active_tasks, node.id)


class _HeapChooser:
    def __init__(
        self,
        nodes: Iterable[NodeInfo],
        key: Callable[[NodeInfo], SortKey],
        check: GroupCheck,
    ) -> None:
        self._key = key
        self._check = check
        self._heap = [(key(n), n) for n in nodes]
        heapq.heapify(self._heap)

    def place(self, task_id: str) -> NodeInfo | None:
        while self._heap:
            _, node = heapq.heappop(self._heap)
            if not self._check.dynamic(node):
                continue  # full for this group
            node.add_task(task_id, self._check.demand.usage)
            heapq.heappush(self._heap, (self._key(node), node))
            return node
        return None


class _RandomChooser:
    def __init__(self, nodes: Iterable[NodeInfo], check: GroupCheck, rng: random.Random) -> None:
        self._nodes = sorted(nodes, key=lambda n: n.id)  # reproducible for a seeded rng
        self._check = check
        self._rng = rng

    def place(self, task_id: str) -> NodeInfo | None:
        while self._nodes:
            i = self._rng.randrange(len(self._nodes))
            node = self._nodes[i]
            if not self._check.dynamic(node):
                self._nodes[i] = self._nodes[-1]
                self._nodes.pop()
                continue
            node.add_task(task_id, self._check.demand.usage)
            return node
        return None


def _leaf_chooser(
    nodes: Sequence[NodeInfo], check: GroupCheck, rng: random.Random, now: float
) -> Chooser:
    demand = check.demand
    if demand.strategy == SchedulingStrategy.RANDOM:
        return _RandomChooser(nodes, check, rng)
    if demand.strategy == SchedulingStrategy.BINPACK:
        return _HeapChooser(nodes, lambda n: binpack_key(n, demand, now), check)
    return _HeapChooser(nodes, lambda n: spread_key(n, demand, now), check)


class _Branch:
    """One level of the preference tree: a chooser over its children (or, at the
    bottom, over its nodes) that always descends into the least-used child."""

    def __init__(
        self,
        nodes: Sequence[NodeInfo],
        descriptors: Sequence[str],
        make_leaf: Callable[[Sequence[NodeInfo]], Chooser],
        service_id: str,
    ) -> None:
        self.count = sum(n.service_tasks(service_id) for n in nodes)
        self._leaf: Chooser | None = None
        self._children: dict[str, _Branch] = {}
        self._heap: list[tuple[int, str]] = []
        if not descriptors:
            self._leaf = make_leaf(nodes)
            return
        groups: dict[str, list[NodeInfo]] = {}
        for n in nodes:
            groups.setdefault(spread_value(descriptors[0], n.node), []).append(n)
        for value, members in groups.items():
            self._children[value] = _Branch(members, descriptors[1:], make_leaf, service_id)
        self._heap = [(child.count, value) for value, child in self._children.items()]
        heapq.heapify(self._heap)

    def place(self, task_id: str) -> NodeInfo | None:
        chosen: NodeInfo | None = None
        if self._leaf is not None:
            chosen = self._leaf.place(task_id)
        else:
            while self._heap and chosen is None:
                _, value = heapq.heappop(self._heap)
                child = self._children[value]
                chosen = child.place(task_id)
                if chosen is not None:
                    heapq.heappush(self._heap, (child.count, value))
                # else: the branch has no room left; it stays out
        if chosen is not None:
            self.count += 1
        return chosen


def place_group(
    task_ids: Sequence[str],
    nodes: Iterable[NodeInfo],
    check: GroupCheck,
    *,
    rng: random.Random,
    now: float,
) -> list[tuple[str, NodeInfo]]:
    """Place as many of ``task_ids`` (tasks sharing ``check.demand``) as fit, in order.
    Each chosen node has the task added to its account. Returns (task id, node) pairs;
    tasks left out did not fit anywhere and ``check.explain()`` says why."""
    candidates = [n for n in nodes if check.static(n)]
    demand = check.demand

    def make_leaf(members: Sequence[NodeInfo]) -> Chooser:
        return _leaf_chooser(members, check, rng, now)

    chooser: Chooser
    if demand.preferences:
        chooser = _Branch(candidates, demand.preferences, make_leaf, demand.service_id)
    else:
        chooser = make_leaf(candidates)
    placed: list[tuple[str, NodeInfo]] = []
    for task_id in task_ids:
        node = chooser.place(task_id)
        if node is None:
            break
        placed.append((task_id, node))
    return placed
