"""What each endpoint moved and refused, for the node's metrics (actors/metrics/).

One `EndpointStats` per endpoint name for the life of the process, so the counts only grow
across an endpoint's restarts (a Prometheus counter must not go back); ``strangers`` is a
gauge, what the running endpoint holds. Each is written by
its endpoint's I/O thread only (frames in and out, refusals), and read by a scrape from
another thread: plain integers, so a read sees a recent value, never a torn one.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["EndpointStats", "all_endpoint_stats", "endpoint_stats"]


@dataclass(slots=True)
class EndpointStats:
    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    strangers: int = 0  # connections of strangers open now (transport/strangers.py)
    _refused: Counter[str] = field(default_factory=Counter)  # by reason
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refuse(self, reason: str) -> None:
        with self._lock:
            self._refused[reason] += 1

    def refusals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._refused)


_lock = threading.Lock()
_stats: dict[str, EndpointStats] = {}


def endpoint_stats(name: str) -> EndpointStats:
    """The counters of the endpoint called ``name`` (made on first use)."""
    with _lock:
        stats = _stats.get(name)
        if stats is None:
            stats = _stats[name] = EndpointStats()
        return stats


def all_endpoint_stats() -> dict[str, EndpointStats]:
    with _lock:
        return dict(_stats)
