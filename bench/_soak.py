"""What bench/soak.py measures, and how it reads a trend.

`process_sample`: one process's RSS, open fds and threads from /proc. `state_dir_sizes`:
a node's state dir in bytes, split into the Raft WAL, the Raft snapshots, the worker's
task database and the rest. `store_counts`: a manager's Prometheus text (namespace
``swarm``), reduced to its store's objects by kind and its tasks by state. `trend`: a
series's start, end, extremes and least-squares slope per hour over the samples after a
warm-up, which is what the soak reports: a steady workload must give slopes near zero.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["process_sample", "slope_per_hour", "state_dir_sizes", "store_counts", "trend"]


def process_sample(pid: int) -> dict[str, int] | None:
    """RSS (KiB), open fds and threads of ``pid``; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kib": int(fields.get("VmRSS", "0 kB").split()[0]),
        "fds": fds,
        "threads": int(fields.get("Threads", "0").strip()),
    }


def _part(relative: Path) -> str:
    parts = relative.parts
    name = relative.name
    if parts and parts[0] == "raft":
        if "snap" in name:
            return "raft_snapshots_bytes"
        if "wal" in name or name.endswith(".log") or "segment" in name:
            return "raft_wal_bytes"
        return "raft_other_bytes"
    if (parts and parts[0] in ("worker", "tasks")) or name.startswith(("tasks", "worker")):
        return "worker_db_bytes"
    return "other_bytes"


def state_dir_sizes(state_dir: Path) -> dict[str, int]:
    """Bytes under ``state_dir`` by part (files only), and their total and file count."""
    sizes = {
        "raft_wal_bytes": 0,
        "raft_snapshots_bytes": 0,
        "raft_other_bytes": 0,
        "worker_db_bytes": 0,
        "other_bytes": 0,
    }
    files = 0
    for root, _dirs, names in os.walk(state_dir):
        for name in names:
            path = Path(root) / name
            try:
                size = path.lstat().st_size
            except OSError:
                continue  # replaced meanwhile
            files += 1
            sizes[_part(path.relative_to(state_dir))] += size
    sizes["total_bytes"] = sum(sizes.values())
    sizes["files"] = files
    return sizes


def store_counts(metrics_text: str) -> dict[str, int]:
    """``store_<kind>`` and ``tasks_<state>`` from a manager's /metrics."""
    out: dict[str, int] = {}
    for line in metrics_text.splitlines():
        for metric, prefix in (("swarm_store_objects{", "store_"), ("swarm_tasks{", "tasks_")):
            if line.startswith(metric):
                label = line[line.index('"') + 1 : line.rindex('"')]
                out[prefix + label] = int(float(line.rsplit(" ", 1)[1]))
    return out


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, per hour; None below 3 points."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return round(cov / var * 3600, 3)


def trend(points: Sequence[tuple[float, float]], warmup_s: float) -> dict[str, Any]:
    """Start, end, min, max and the slope per hour of the points from ``warmup_s`` after
    the first on (all of them when that leaves fewer than 3)."""
    if not points:
        return {}
    later = [p for p in points if p[0] >= points[0][0] + warmup_s]
    fitted = later if len(later) >= 3 else list(points)
    values = [v for _, v in points]
    return {
        "start": points[0][1],
        "end": points[-1][1],
        "min": min(values),
        "max": max(values),
        "samples": len(points),
        "slope_per_h": slope_per_hour(fitted),
        "fitted_from_s": round(fitted[0][0], 1),
    }
