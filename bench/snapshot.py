"""Snapshot save and restore of one manager's store, in process: the encoding and the
restore alone (no Raft, no file), repeated, for comparing code paths.

    python bench/snapshot.py [--tasks 100000] [--services 10] [--nodes 1000] [--runs 3]
                             [--smoke]

Fills a ``MemoryStore`` as bench/scale.py's leader holds it (bench/_store_fill.py: the
nodes, the services, every task PENDING -> ASSIGNED -> RUNNING), encodes its snapshot
``--runs`` times, then restores it ``--runs`` times in a fresh child process, as a manager
that starts restores it (``raft.node.started``'s snapshot_restore_s times the same
``store.restore(data)``): each run into a new store, CPU and wall seconds, and the child's
RSS growth per task over its first restore. The restored store's snapshot must give the
same bytes. Prints one JSON document; CPU seconds mean more than wall ones on a loaded
machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.heap import tune_collector, tune_malloc
from actors.store import MemoryStore
from bench._common import machine
from bench._fleet import proc_rss_bytes
from bench._store_fill import fill_store
from bench.transport import quiet_logs

AIMS = {"snapshot_save_s": 2.0, "snapshot_restore_s": 2.0, "rss_bytes_per_task": 4096}


def _timed(fn: Any) -> tuple[Any, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(time.process_time() - cpu, 3),
    }


def restore_runs(path: Path, runs: int) -> dict[str, Any]:
    """In this (fresh) process: ``runs`` restores of the snapshot at ``path``."""
    data = path.read_bytes()
    before = proc_rss_bytes(os.getpid())
    kept: list[MemoryStore] = []
    times: list[dict[str, float]] = []
    for _ in range(runs):
        store = MemoryStore(clock=time.time)
        _, took = _timed(lambda store=store: store.restore(data))
        times.append(took)
        if not kept:
            kept.append(store)
            grown = proc_rss_bytes(os.getpid()) - before
    same = kept[0].snapshot() == data
    return {"runs": times, "rss_growth_bytes": grown, "same_bytes": same}


def run(tasks: int, services: int, nodes: int, runs: int, directory: Path) -> dict[str, Any]:
    store = MemoryStore.local(clock=time.time)
    fill = fill_store(store, tasks=tasks, services=services, nodes=nodes)
    encodes = []
    data = b""
    for _ in range(runs):
        data, took = _timed(store.snapshot)
        encodes.append(took)
    path = directory / "snapshot"
    path.write_bytes(data)
    del store
    child = subprocess.run(
        [sys.executable, __file__, "--restore-file", str(path), "--runs", str(runs)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    restored = json.loads(child.stdout)
    best_encode = min(r["cpu_s"] for r in encodes)
    best_restore = min(r["cpu_s"] for r in restored["runs"])
    per_task = round(restored["rss_growth_bytes"] / tasks)
    scale = 100_000 / tasks
    return {
        "fill": fill,
        "snapshot_bytes": len(data),
        "encode": encodes,
        "restore": restored["runs"],
        "restored_same_bytes": restored["same_bytes"],
        "restored_rss_bytes_per_task": per_task,
        "best_encode_cpu_s": best_encode,
        "best_restore_cpu_s": best_restore,
        "aims": {
            **AIMS,
            "save_cpu_met_at_100k_est": best_encode * scale < AIMS["snapshot_save_s"],
            "restore_cpu_met_at_100k_est": best_restore * scale < AIMS["snapshot_restore_s"],
            "rss_met": per_task <= AIMS["rss_bytes_per_task"],
        },
    }


def main() -> None:
    quiet_logs()
    tune_collector()  # as swarm-node runs (cli/node_main.py)
    tune_malloc()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="2,000 tasks, 2 runs: seconds")
    parser.add_argument("--restore-file", type=Path, help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.restore_file is not None:
        print(json.dumps(restore_runs(args.restore_file, args.runs)))
        return
    if args.smoke:
        args.tasks, args.services, args.nodes, args.runs = 2000, 10, 50, 2
    if min(args.tasks, args.services, args.nodes, args.runs) < 1:
        parser.error("--tasks, --services, --nodes and --runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as tmp:
        result = run(args.tasks, args.services, args.nodes, args.runs, Path(tmp))
    document = {
        "bench": "snapshot",
        "tasks": args.tasks,
        "services": args.services,
        "nodes": args.nodes,
        "machine": machine(),
        "load": os.getloadavg()[0],
        **result,
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
