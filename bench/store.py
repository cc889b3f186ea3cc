"""Store memory and snapshot benchmark: one manager's store at 100,000 tasks, no fleet.

    python bench/store.py [--tasks 100000] [--services 100] [--nodes 1000] [--smoke]

Fills a real ``MemoryStore`` the way a leader does (through proposals, ``Batch`` of 500
writes): the nodes, the services, then every task created PENDING, assigned to a node
and reported RUNNING with a container (three writes per task, as the scheduler and the
worker make them). Every committed entry also goes to a real ``DurableStorage`` (fsync
on) that snapshots and compacts by the Raft loop's own rule (``actors.raft_node
.compaction``), so the in-memory log the manager keeps is counted too. Then:

- RSS per task of the filled store (the process's RSS growth over the fill / tasks), and
  the log bytes kept in memory at the end and at their peak;
- (wall and CPU times: the CPU ones mean more on a loaded machine)
- a snapshot saved as the Raft loop does (encode, then the snapshot file written with
  fsync: ``actors.raft_node.snapshots.write_snapshot``): size, encode and write times;
  and its encoding in a forked child as a big store's is (``encode_in_child``), alone
  and three at once (bench/scale.py makes its three managers snapshot together);
- a restore from that file into a fresh store (read + CRC + decode + tables): time, and
  the RSS growth and traced Python bytes (tracemalloc, a second restore) per task of the
  restored store (a follower's or a restarted manager's objects);
- the write path's CPU per task (``apply_cpu``, after the rest): a leader's store filled
  again through a proposer that keeps the entries, then those entries applied to fresh
  stores as a follower applies them (decoded), the best of three; and the entry bytes.

Prints one JSON document with issue 14's aims (RSS <= 4 KiB per task, save and restore
of a 100,000-task store under 2 s each) and whether each is met.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.heap import tune_collector, tune_malloc
from actors.raft_node.snapshots import read_snapshot, write_snapshot
from actors.raft_node.snapshotter import encode_in_child
from actors.raft_node.types import ConfState, Snapshot, SnapshotMetadata
from actors.store import MemoryStore
from bench._common import machine
from bench._fleet import proc_rss_bytes
from bench._store_fill import LoggedProposer, RecordingProposer, fill_store
from bench.transport import quiet_logs

AIMS = {"rss_bytes_per_task": 4096, "snapshot_save_s": 2.0, "snapshot_restore_s": 2.0}
AIM_TASKS = 100_000
BEFORE = {  # main on 2026-12-05, bench/scale.py 100 nodes x 10,000 tasks (leader process)
    "leader_rss_bytes_per_task_at_10k": 5100,
    "snapshot_bytes_at_10k": 8_000_000,
    "snapshot_save_s_at_10k": 1.1,
    "snapshot_restore_s_at_10k": 0.39,
    # this bench on main (f4b9b73) at 100,000 tasks, load ~20 on 2 cores
    "bench_store_at_100k": {
        "rss_bytes_per_task_leader": 4707,
        "rss_bytes_per_task_restored": 6947,
        "traced_bytes_per_task_restored": 3091,
        "kept_log_bytes": 301_864_494,
        "snapshot_bytes": 104_262_637,
        "save_s": 7.42,
        "restore_s": 32.0,
    },
    # this bench on main (c4455c3) at 100,000 tasks, before store entry format 2 and the
    # fixed mmap threshold (2026-12-05 09:23 UTC, load 9)
    "bench_store_at_100k_c4455c3": {
        "rss_bytes_per_task_leader": 2981,
        "rss_bytes_per_task_restored": 1124,
        "kept_log_bytes": 39_996_852,
        "peak_log_bytes": 54_590_298,
        "snapshots_during_fill": 14,
    },
    # apply_cpu of this bench at 10,000 tasks (10 services, 100 nodes) on main (8438c0c),
    # before entry format 3 and the batch's proposals in flight (2026-12-05 12:58 UTC,
    # load 10.5); the same run of s-delta's branch (load 5.9): 67.1, 31.7 and 450
    "apply_cpu_at_10k_8438c0c": {
        "leader_write_cpu_us_per_task": 83.2,
        "follower_apply_cpu_us_per_task": 62.7,
        "entry_bytes_per_task": 660,
    },
}


def rss() -> int:
    gc.collect()
    return proc_rss_bytes(os.getpid())


def save(store: MemoryStore, directory: Path) -> tuple[Path, dict[str, Any]]:
    """Encode and write a snapshot as the Raft loop does; its size and times."""
    started, cpu = time.perf_counter(), time.process_time()
    data = store.snapshot()
    encoded = time.perf_counter()
    meta = SnapshotMetadata(index=store.version, term=1, conf_state=ConfState(voters=(1,)))
    path = write_snapshot(directory, Snapshot(meta, data), None)
    written = time.perf_counter()
    return path, {
        "save_cpu_s": round(time.process_time() - cpu, 3),
        "snapshot_bytes": len(data),
        "encode_s": round(encoded - started, 3),
        "write_fsync_s": round(written - encoded, 3),
        "save_s": round(written - started, 3),
    }


def save_in_children(store: MemoryStore, managers: int = 3) -> dict[str, Any]:
    """The snapshot encoded as a big store's Raft loop encodes it: in a forked child
    (raft_node/snapshotter.py), once alone and then ``managers`` at once, as
    bench/scale.py makes every manager of a cluster snapshot together (their children
    then share the machine's cores): wall and CPU seconds (the child's, faults of its
    copy-on-write pages included), the encoding only (the file's write is ``save``'s)."""
    view = store.snapshot_view()
    started = time.perf_counter()
    _, cpu = encode_in_child(store.encode_snapshot, view)
    alone = {"wall_s": round(time.perf_counter() - started, 3), "cpu_s": round(cpu, 3)}
    walls: list[float] = []
    cpus: list[float] = []

    def one() -> None:
        began = time.perf_counter()
        _, spent = encode_in_child(store.encode_snapshot, view)
        walls.append(time.perf_counter() - began)
        cpus.append(spent)

    threads = [threading.Thread(target=one) for _ in range(managers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = {"managers": managers, "max_wall_s": round(max(walls), 3)}
    return {"alone": alone, "together": {**together, "max_cpu_s": round(max(cpus), 3)}}


def restore(path: Path) -> tuple[MemoryStore, float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    snap = read_snapshot(path, None)
    store = MemoryStore(clock=time.time)
    store.restore(snap.data)
    return store, time.perf_counter() - started, time.process_time() - cpu


def apply_cpu(tasks: int, services: int, nodes: int) -> dict[str, Any]:
    """CPU µs per task of the leader's writes (fill, with its own building of the objects)
    and of a follower's apply of the same entries (best of 3), and the entries' bytes."""
    recorder = RecordingProposer()
    leader = MemoryStore(clock=time.time)
    recorder.attach(leader)
    leader.attach_proposer(recorder)
    cpu = time.process_time()
    fill_store(leader, tasks=tasks, services=services, nodes=nodes)
    leader_s = time.process_time() - cpu
    entries, best = recorder.entries, float("inf")
    for _ in range(3):
        follower = MemoryStore(clock=time.time)
        cpu = time.process_time()
        for index, data in entries:
            follower.apply(index, data)
        best = min(best, time.process_time() - cpu)
        assert follower.snapshot() == leader.snapshot(), "the follower differs from the leader"
        del follower
    return {
        "leader_write_cpu_us_per_task": round(leader_s / tasks * 1e6, 1),
        "follower_apply_cpu_us_per_task": round(best / tasks * 1e6, 1),
        "entry_bytes_per_task": round(sum(len(d) for _, d in entries) / tasks),
    }


def run(tasks: int, services: int, nodes: int, directory: Path) -> dict[str, Any]:
    rss_start = rss()
    log = LoggedProposer.open(directory / "raft")
    store = MemoryStore(clock=time.time)
    log.attach(store)
    store.attach_proposer(log)
    fill = fill_store(store, tasks=tasks, services=services, nodes=nodes)
    log.close()
    rss_filled = rss()
    leader_per_task = (rss_filled - rss_start) / tasks
    path, saved = save(store, directory)
    in_children = save_in_children(store)
    restored, restore_s, restore_cpu_s = restore(path)
    rss_restored = rss()
    del restored
    gc.collect()
    tracemalloc.start()
    traced_base = tracemalloc.get_traced_memory()[0]
    again, _, _ = restore(path)
    traced = tracemalloc.get_traced_memory()[0] - traced_base
    tracemalloc.stop()
    del again
    scale = AIM_TASKS / tasks
    result: dict[str, Any] = {
        "fill": fill,
        "raft_log": log.figures(),
        "rss_bytes_per_task_leader": round(leader_per_task),
        "rss_bytes_per_task_restored": round((rss_restored - rss_filled) / tasks),
        "traced_bytes_per_task_restored": round(traced / tasks),
        **saved,
        "encode_in_child": in_children,
        "restore_s": round(restore_s, 3),
        "restore_cpu_s": round(restore_cpu_s, 3),
        "snapshot_bytes_per_task": round(saved["snapshot_bytes"] / tasks),
        # a snapshot's costs grow linearly with the tasks: the figure at the aim's size
        "save_s_at_100k_est": round(saved["save_s"] * scale, 2),
        "restore_s_at_100k_est": round(restore_s * scale, 2),
    }
    per_task = max(leader_per_task, result["rss_bytes_per_task_restored"])
    result["aims"] = {
        **AIMS,
        "rss_met": per_task <= AIMS["rss_bytes_per_task"],
        "save_met": result["save_s_at_100k_est"] < AIMS["snapshot_save_s"],
        "restore_met": result["restore_s_at_100k_est"] < AIMS["snapshot_restore_s"],
        # CPU seconds: what the wall times would be on an idle machine (fsync aside)
        "save_cpu_met": saved["save_cpu_s"] * scale < AIMS["snapshot_save_s"],
        "restore_cpu_met": restore_cpu_s * scale < AIMS["snapshot_restore_s"],
    }
    result["apply_cpu"] = apply_cpu(tasks, services, nodes)
    return result


def main() -> None:
    quiet_logs()
    tune_collector()  # as swarm-node runs (cli/node_main.py)
    tune_malloc()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=AIM_TASKS)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="2,000 tasks: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.tasks, args.services, args.nodes = 2000, 10, 50
    if args.tasks < 1 or args.services < 1 or args.nodes < 1:
        parser.error("--tasks, --services and --nodes must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        result = run(args.tasks, args.services, args.nodes, Path(tmp))
    document = {
        "bench": "store",
        "tasks": args.tasks,
        "services": args.services,
        "nodes": args.nodes,
        "machine": machine(),
        "load": os.getloadavg()[0],
        "before": BEFORE,
        **result,
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
