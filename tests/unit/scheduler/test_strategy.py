"""Spread, binpack, random, placement preferences, max replicas, recent failures, and
the cost of placing a group."""

from __future__ import annotations

import random
from collections import Counter
from typing import ClassVar

from actors.scheduler import (
    DEFAULT_FILTERS,
    MAX_FAILURES,
    Demand,
    NodeInfo,
    Pipeline,
    Usage,
    place_group,
)
from api.enums import SchedulingStrategy
from tests.unit.scheduler.helpers import CPU, GB, demand, info, node


def ids(n: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def place(
    d: Demand, nodes: list[NodeInfo], n: int, *, seed: int = 1, now: float = 0.0
) -> Counter[str]:
    check = Pipeline().group(d)
    placed = place_group(ids(n), nodes, check, rng=random.Random(seed), now=now)
    return Counter(node.id for _, node in placed)


def test_spread_evens_out_tasks_of_the_service_within_a_batch() -> None:
    nodes = [info(node(str(i))) for i in range(3)]
    assert place(demand(), nodes, 7) == {"0": 3, "1": 2, "2": 2}


def test_spread_fills_nodes_with_fewer_tasks_of_the_service_first() -> None:
    nodes = [info(node("a")), info(node("b")), info(node("c"))]
    nodes[0].add_task("x1", Usage("svc"))
    nodes[0].add_task("x2", Usage("svc"))
    nodes[1].add_task("x3", Usage("svc"))
    assert place(demand(), nodes, 3) == {"c": 2, "b": 1}


def test_spread_breaks_ties_by_total_tasks() -> None:
    nodes = [info(node("a")), info(node("b"))]
    nodes[0].add_task("o1", Usage("other"))
    assert place(demand(), nodes, 1) == {"b": 1}


def test_nodes_where_the_service_failed_recently_go_last() -> None:
    nodes = [info(node("a")), info(node("b"))]
    for _ in range(MAX_FAILURES):
        nodes[0].record_failure("svc", now=100.0)
    nodes[1].add_task("x", Usage("svc"))
    nodes[1].add_task("y", Usage("svc"))
    assert place(demand(), nodes, 2, now=110.0) == {"b": 2}
    # failures of another service or long ago do not count
    assert place(demand("other"), [info(node("a")), info(node("b"))], 2) == {"a": 1, "b": 1}
    assert place(demand(), nodes, 1, now=100.0 + 301) == {"a": 1}


def test_resources_stop_a_node_mid_batch() -> None:
    nodes = [info(node("small", memory=2 * GB)), info(node("big", memory=8 * GB))]
    assert place(demand(memory=GB), nodes, 8) == {"small": 2, "big": 6}


def test_max_replicas_per_node() -> None:
    nodes = [info(node(str(i))) for i in range(3)]
    check = Pipeline().group(demand(max_replicas=2))
    placed = place_group(ids(10), nodes, check, rng=random.Random(1), now=0)
    assert Counter(n.id for _, n in placed) == {"0": 2, "1": 2, "2": 2}
    assert check.explain() == "no suitable node (max replicas per node (2) reached on 3 nodes)"


def test_binpack_fills_the_most_loaded_node_that_fits() -> None:
    nodes = [info(node("a", cpus=4)), info(node("b", cpus=4))]
    nodes[1].add_task("x", Usage("other", CPU))
    d = demand(cpus=1, strategy=SchedulingStrategy.BINPACK)
    assert place(d, nodes, 5) == {"b": 3, "a": 2}


def test_binpack_without_reservations_packs_by_task_count() -> None:
    nodes = [info(node("a")), info(node("b"))]
    nodes[0].add_task("x", Usage("other"))
    assert place(demand(strategy=SchedulingStrategy.BINPACK), nodes, 4) == {"a": 4}


def test_random_uses_the_injected_rng_and_only_nodes_that_fit() -> None:
    d = demand(memory=GB, strategy=SchedulingStrategy.RANDOM)

    def run(seed: int) -> Counter[str]:
        nodes = [info(node(str(i), memory=3 * GB)) for i in range(4)] + [
            info(node("tiny", memory=GB // 2))
        ]
        return place(d, nodes, 12, seed=seed)

    first = run(7)
    assert first == run(7)
    assert sum(first.values()) == 12 and "tiny" not in first
    assert all(v == 3 for v in first.values())  # 12 tasks fill 4 nodes of 3 slots


def test_placement_preference_spreads_across_label_values() -> None:
    nodes = [
        info(node("a1", labels={"zone": "a"})),
        info(node("a2", labels={"zone": "a"})),
        info(node("a3", labels={"zone": "a"})),
        info(node("b1", labels={"zone": "b"})),
        info(node("c1")),  # no label: its own branch
    ]
    got = place(demand(preferences=("node.labels.zone",)), nodes, 9)
    zones = Counter({"a": got["a1"] + got["a2"] + got["a3"], "b": got["b1"], "": got["c1"]})
    assert zones == {"a": 3, "b": 3, "": 3}
    assert sorted(got[n] for n in ("a1", "a2", "a3")) == [1, 1, 1]


def test_placement_preference_counts_existing_tasks_and_skips_full_branches() -> None:
    nodes = [
        info(node("a1", labels={"zone": "a"})),
        info(node("b1", labels={"zone": "b"}, memory=GB)),
    ]
    nodes[0].add_task("x1", Usage("svc"))
    nodes[0].add_task("x2", Usage("svc"))
    d = demand(preferences=("node.labels.zone",), memory=GB // 2)
    # b first catches up (2 tasks would even it out) but holds only 2
    assert place(d, nodes, 4) == {"b1": 2, "a1": 2}


def test_nested_preferences() -> None:
    nodes = [
        info(node(f"{z}{r}{i}", labels={"zone": z, "rack": r}))
        for z in "ab"
        for r in "xy"
        for i in range(2)
    ]
    got = place(demand(preferences=("node.labels.zone", "node.labels.rack")), nodes, 8)
    assert sorted(got.values()) == [1] * 8


class CountingFilter:
    name: ClassVar[str] = "counting"
    dynamic: ClassVar[bool] = False
    calls = 0

    def enabled(self, demand: Demand) -> bool:
        return True

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        CountingFilter.calls += 1
        return None


class CountingDynamicFilter(CountingFilter):
    dynamic: ClassVar[bool] = True
    calls = 0

    def check(self, demand: Demand, node: NodeInfo) -> str | None:
        CountingDynamicFilter.calls += 1
        return None


def test_a_group_runs_static_filters_once_per_node() -> None:
    pipeline = Pipeline((*DEFAULT_FILTERS, CountingFilter(), CountingDynamicFilter()))
    nodes = [info(node(str(i))) for i in range(10)]
    check = pipeline.group(demand(memory=1))
    placed = place_group(ids(100), nodes, check, rng=random.Random(1), now=0)
    assert len(placed) == 100
    assert Counter(n.id for _, n in placed) == {str(i): 10 for i in range(10)}
    assert CountingFilter.calls == 10
    assert CountingDynamicFilter.calls == 100  # one per placement, none wasted
