"""Raft's metrics: what the Raft shell (actors/raft_node/actor.py) reports as it happens,
and the gauges read from a running node at scrape time (`RaftCollector`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Protocol

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from actors.metrics.registry import NAMESPACE, REGISTRY

__all__ = [
    "LEADER_CHANGES",
    "PROPOSALS_FAILED",
    "PROPOSAL_SECONDS",
    "SNAPSHOT_BYTES",
    "RaftCollector",
    "proposal_done",
]

LEADER_CHANGES: Final = Counter(
    "raft_leader_changes",
    "Times this member saw the Raft leader change (or its own leadership begin or end).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
PROPOSAL_SECONDS: Final = Histogram(
    "raft_proposal_seconds",
    "Seconds from a proposal on this member to its entry committed and applied here.",
    namespace=NAMESPACE,
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PROPOSALS_FAILED: Final = Counter(
    "raft_proposals_failed",
    "Proposals on this member that failed (no leader, dropped by a leader change, ...).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
SNAPSHOT_BYTES: Final = Gauge(
    "raft_snapshot_bytes",
    "Size of the last Raft snapshot this member wrote or installed.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)


def proposal_done(seconds: float, failed: bool) -> None:
    """A proposal's outcome, from its future's callback."""
    if failed:
        PROPOSALS_FAILED.inc()
    else:
        PROPOSAL_SECONDS.observe(seconds)


class RaftView(Protocol):
    @property
    def term(self) -> int: ...
    @property
    def commit(self) -> int: ...
    @property
    def applied(self) -> int: ...
    @property
    def is_leader(self) -> bool: ...


class RaftCollector:
    """Term, commit and apply index, leadership: read from ``status()`` at each scrape
    (None: no Raft node runs now, nothing is reported)."""

    def __init__(self, status: Callable[[], RaftView | None]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status = self._status()
        if status is None:
            return
        for name, doc, value in (
            ("raft_term", "The current Raft term.", status.term),
            ("raft_commit_index", "The highest log index known to be committed.", status.commit),
            ("raft_applied_index", "The highest log index applied to the store.", status.applied),
            ("raft_is_leader", "1 when this member is the Raft leader.", int(status.is_leader)),
        ):
            yield GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, value=value)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing declared up front: the families vary with what runs
