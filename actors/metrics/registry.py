"""The process's one Prometheus registry (``prometheus_client``'s own, not the library's
global default, so exactly what is declared here is exposed).

Push metrics (counters, histograms, gauges a shell sets) are declared at import by the
subsystem modules beside this one and live as long as the process, across role restarts.
Pull metrics (read at scrape time from a store, a Raft node, a worker) are `Collector`s
that the running tree registers while it runs (actors/metrics/http.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Protocol

from prometheus_client import CollectorRegistry, ProcessCollector

__all__ = ["NAMESPACE", "REGISTRY", "Collector"]


class Collector(Protocol):
    """What ``CollectorRegistry.register`` takes: metric families at each scrape."""

    def collect(self) -> Iterator[Any]: ...


NAMESPACE: Final = "swarm"
REGISTRY: Final = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # process_cpu_seconds_total, memory, open fds
