"""Raft benchmark: a 3-member cluster of real processes on loopback, fsync on.

    python bench/raft.py [--seconds 3] [--failovers 3] [--concurrency 1,16,64]

Prints one JSON document: sequential write latency (p50/p99), committed writes/s with 1,
16 and 64 concurrent proposers — in-process (threads on the leader's process calling
``RaftNode.propose``, via the ``raft.test.load`` test surface) and in a client process
(this one, ``raft.propose`` requests over CURVE) — and the availability gap after
``kill -9`` of the leader (kill to the first committed write). 100-byte values. Each
client-process run also gives, per write and process (leader, followers, client), the CPU
time and the voluntary and involuntary context switches (`WriteCost`): figures that
depend little on the machine's load, where a voluntary switch is a thread hand-off. Reference
figures (issue 14's etcd anchors, and issue 3's) are included with the ratio of ours to
each on the figures it has (throughput: ours/theirs; latency and gap: theirs/ours, so > 1
means we are better), and issue 14's aims for the client process (64 concurrent writers
>= 9,000 writes/s, one at a time p50 <= 1.0 ms) with whether this run met them.
``--concurrency 1`` runs only the one-write-at-a-time runs (with ``--failovers 0``: a quick
A/B of the c1 latency); the figures, ratios and aims of the runs left out are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.errors import TransportError
from bench._fleet import proc_cpu_seconds
from tests.support.raft_cluster import RaftCluster, wait_for
from tests.support.raft_server import percentile

VALUE_SIZE = 100
CONCURRENCY = (1, 16, 64)

REFERENCE: dict[str, dict[str, float]] = {
    # issue 14's anchors (etcd on this machine in the same hour): one write at a time, and
    # 64 concurrent writers with etcd's Go client and with a Python HTTP client
    "etcd, fsync on, Go client (issue 14)": {"seq_p50_ms": 0.77, "c64": 10000},
    "etcd, fsync on, Python HTTP client (issue 14)": {"c64": 3650},
    "etcd 3.4, fsync on, Go client": {
        "seq_p50_ms": 0.72, "c1": 1332, "c16": 4983, "c64": 9566, "failover_gap_s": 1.41,
    },
    "etcd 3.4, fsync on, Python HTTP client": {
        "seq_p50_ms": 1.17, "c1": 619, "c16": 2329, "c64": 2557, "failover_gap_s": 1.41,
    },
    "PySyncObj, in memory, batching off": {
        "seq_p50_ms": 0.47, "c1": 1161, "c16": 2196, "c64": 2239, "failover_gap_s": 1.63,
    },
    "PySyncObj defaults (100 ms batching)": {
        "seq_p50_ms": 101.0, "c1": 10, "c16": 157, "c64": 610, "failover_gap_s": 2.02,
    },
}  # fmt: skip


TARGETS = {"c64_writes_per_s": 9000, "seq_p50_ms": 1.0, "failover_gap_s": 1.5}


def value(i: int) -> bytes:
    # a msgpack bin of 98 bytes: 100 bytes in all, which the store skips as "not an entry"
    return b"\xc4\x62" + (b"%098d" % i)


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of ``pid``'s live threads so far."""
    voluntary = involuntary = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    involuntary += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return voluntary, involuntary


class WriteCost:
    """CPU time and context switches per write, by process: the members' (from /proc) and
    this client process's (``getrusage``, which counts its ended threads too). They depend
    far less on the machine's load than rates and latencies do. A voluntary switch is a
    thread going to sleep (waiting for a hand-off, the GIL or the disk): the cost the client
    path is made of; an involuntary one is a preemption (the machine's load)."""

    def __init__(self, cluster: RaftCluster, leader: int) -> None:
        self._pids = {
            ("leader" if i == leader else f"follower{i}"): cluster.procs[i].pid for i in cluster.ids
        }
        self._before = self._read()

    def _read(self) -> dict[str, tuple[float, int, int]]:
        out = {}
        for name, pid in self._pids.items():
            voluntary, involuntary = context_switches(pid)
            out[name] = (proc_cpu_seconds(pid), voluntary, involuntary)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        out["client"] = (ru.ru_utime + ru.ru_stime, ru.ru_nvcsw, ru.ru_nivcsw)
        return out

    def per_write(self, writes: int) -> dict[str, dict[str, float]]:
        after = self._read()
        n = max(1, writes)
        return {
            name: {
                "cpu_us": round((after[name][0] - cpu) / n * 1e6, 1),
                "voluntary_switches": round((after[name][1] - voluntary) / n, 2),
                "involuntary_switches": round((after[name][2] - involuntary) / n, 2),
            }
            for name, (cpu, voluntary, involuntary) in self._before.items()
        }


def in_process(cluster: RaftCluster, leader: int, n: int, seconds: float) -> dict[str, Any]:
    client = cluster.new_client(leader, timeout=seconds + 30)
    try:
        r = client.request(
            "raft.test.load",
            {"concurrency": n, "seconds": seconds, "size": VALUE_SIZE},
            timeout=seconds + 30,
        )
    finally:
        client.close()
    return {
        "writes_per_s": round(r["count"] / r["elapsed"]),
        "p50_ms": round(r["p50"] * 1000, 3),
        "p99_ms": round(r["p99"] * 1000, 3),
        "errors": r["errors"],
    }


def over_transport(cluster: RaftCluster, leader: int, n: int, seconds: float) -> dict[str, Any]:
    client = cluster.new_client(leader, timeout=10)
    latencies: list[list[float]] = [[] for _ in range(n)]
    errors = [0] * n
    deadline = time.perf_counter() + seconds

    def run(i: int) -> None:
        lat = latencies[i]
        clock = time.perf_counter
        j = i * 10_000_000
        while True:
            t0 = clock()
            if t0 >= deadline:
                return
            j += 1
            try:
                r = client.request("raft.propose", {"data": [value(j)]}, timeout=10)
            except TransportError:
                errors[i] += 1
                continue
            if r.get("error"):
                errors[i] += 1
                continue
            lat.append(clock() - t0)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    cost = WriteCost(cluster, leader)
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = sorted(x for lat in latencies for x in lat)
    per_write = cost.per_write(len(flat))
    client.close()
    return {
        "writes_per_s": round(len(flat) / elapsed),
        "p50_ms": round(percentile(flat, 0.5) * 1000, 3),
        "p99_ms": round(percentile(flat, 0.99) * 1000, 3),
        "errors": sum(errors),
        "per_write": per_write,
    }


def pipelined(cluster: RaftCluster, leader: int, n: int, seconds: float) -> dict[str, Any]:
    """``n`` proposers in the client process without a thread each: every proposer is a
    chain of `Client.request_async` calls, the next write sent from the reply's callback
    (on the client's I/O thread), so ``n`` writes are in flight as with ``n`` threads. It
    shows what the server side commits when the client is not paying a thread wake-up per
    write (as an asyncio client, or etcd's goroutines, would not)."""
    client = cluster.new_client(leader, timeout=10)
    latencies: list[float] = []
    errors = [0]
    running = [n]
    finished = threading.Event()
    clock = time.perf_counter
    deadline = clock() + seconds

    def write(j: int) -> None:
        t0 = clock()
        if t0 >= deadline:
            running[0] -= 1  # only the I/O thread counts down, once the chains run there
            if running[0] == 0:
                finished.set()
            return
        try:
            future = client.request_async("raft.propose", {"data": [value(j)]}, timeout=10)
        except TransportError:
            errors[0] += 1
            write(j + 1)
            return
        future.add_done_callback(lambda f: answered(f, j, t0))

    def answered(f: Future[dict[str, Any]], j: int, t0: float) -> None:
        try:
            failed = bool(f.result().get("error"))
        except TransportError:
            failed = True
        if failed:
            errors[0] += 1
        else:
            latencies.append(clock() - t0)
        write(j + 1)

    cost = WriteCost(cluster, leader)
    start = clock()
    for i in range(n):
        write(i * 10_000_000)
    finished.wait(seconds + 30)
    elapsed = clock() - start
    flat = sorted(latencies)
    per_write = cost.per_write(len(flat))
    client.close()
    return {
        "writes_per_s": round(len(flat) / elapsed),
        "p50_ms": round(percentile(flat, 0.5) * 1000, 3),
        "p99_ms": round(percentile(flat, 0.99) * 1000, 3),
        "errors": errors[0],
        "per_write": per_write,
    }


def failover(cluster: RaftCluster) -> float:
    """Kill -9 the leader; seconds until a write through a survivor is committed."""
    leader = cluster.wait_leader(30)
    survivors = [i for i in cluster.ids if i != leader]
    clients = [cluster.new_client(i, timeout=1.0) for i in survivors]
    try:
        for c in clients:  # connect before the kill
            c.request("raft.status")
        killed = time.perf_counter()
        cluster.kill(leader)
        k = 0
        while True:
            client = clients[k % len(clients)]
            k += 1
            try:
                r = client.request("raft.propose", {"data": [value(k)]}, timeout=0.25)
            except TransportError:
                continue
            if not r.get("error"):
                gap = time.perf_counter() - killed
                break
            time.sleep(0.002)  # no leader yet: ask again shortly
    finally:
        for c in clients:
            c.close()
    cluster.restart(leader)
    wait_for(lambda: cluster.status(leader, timeout=0.5), 20, "the restarted member")
    return gap


def ratios(ours: dict[str, float]) -> dict[str, dict[str, float]]:
    """Ours against each reference, on the figures both have (> 1: we are better)."""
    out = {}
    for name, ref in REFERENCE.items():
        row = {}
        if "seq_p50_ms" in ref and "seq_p50_ms" in ours:
            row["seq_p50"] = round(ref["seq_p50_ms"] / ours["seq_p50_ms"], 2)
        for key in ("c1", "c16", "c64"):
            if key in ref and key in ours:
                row[key] = round(ours[key] / ref[key], 2)
        if "failover_gap_s" in ref and "failover_gap_s" in ours:
            row["failover_gap"] = round(ref["failover_gap_s"] / ours["failover_gap_s"], 2)
        out[name] = row
    return out


def aims(remote: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Issue 14's aims for the client process this run measured, and whether it met them."""
    out: dict[str, dict[str, Any]] = {}
    if "c64" in remote:
        c64 = remote["c64"]
        out["c64_writes_per_s"] = {
            "aim": TARGETS["c64_writes_per_s"],
            "ours": c64,
            "met": c64 >= TARGETS["c64_writes_per_s"],
        }
    if "seq_p50_ms" in remote:
        p50 = remote["seq_p50_ms"]
        out["seq_p50_ms"] = {
            "aim": TARGETS["seq_p50_ms"],
            "ours": p50,
            "met": p50 <= TARGETS["seq_p50_ms"],
        }
    return out


def concurrency_list(text: str) -> tuple[int, ...]:
    """``--concurrency``: comma-separated numbers of concurrent writers, each at least 1."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"each concurrency must be at least 1: {text!r}")
    return values


def summary(
    runs: dict[str, dict[str, Any]], gaps: list[float], *, seq_p99: bool
) -> dict[str, float]:
    """The headline figures of the runs made: one write at a time's latency, writes/s at
    each concurrency, and the median failover gap."""
    out: dict[str, float] = {}
    if "c1" in runs:
        out["seq_p50_ms"] = runs["c1"]["p50_ms"]
        if seq_p99:
            out["seq_p99_ms"] = runs["c1"]["p99_ms"]
    for key, run in runs.items():
        out[key] = run["writes_per_s"]
    if gaps:
        out["failover_gap_s"] = round(sorted(gaps)[len(gaps) // 2], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput run")
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument(
        "--concurrency",
        type=concurrency_list,
        default=CONCURRENCY,
        help="comma-separated writer counts to run (default 1,16,64)",
    )
    parser.add_argument("--tick", type=float, default=0.1)
    parser.add_argument("--smoke", action="store_true", help="0.5 s runs and one failover")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.failovers = 0.5, 1
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="raft-bench-") as tmp:
        cluster = RaftCluster(Path(tmp), 3, tick=args.tick)
        cluster.start()
        try:
            leader = cluster.wait_leader(30)
            cluster.put(leader, "warmup", "x")
            ns = args.concurrency
            inproc = {f"c{n}": in_process(cluster, leader, n, args.seconds) for n in ns}
            remote = {f"c{n}": over_transport(cluster, leader, n, args.seconds) for n in ns}
            chained = {f"c{n}": pipelined(cluster, leader, n, args.seconds) for n in ns if n > 1}
            gaps = [failover(cluster) for _ in range(args.failovers)]
        finally:
            cluster.stop()
    headline = summary(inproc, gaps, seq_p99=True)
    remote_headline = summary(remote, gaps, seq_p99=False)
    gap = headline.get("failover_gap_s")
    doc = {
        "benchmark": "raft",
        "setup": {
            "members": 3,
            "transport": "ZeroMQ tcp loopback, CURVE",
            "fsync": True,
            "value_bytes": VALUE_SIZE,
            "tick_s": args.tick,
            "election_ticks": "10-20",
            "seconds_per_run": args.seconds,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            # the machine may be shared: its 1-minute load before and after the run
            "load_avg_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        },
        "in_process_proposers": inproc,
        "client_process_proposers": remote,
        "client_process_pipelined_proposers": chained,
        "failover_gap_s": {"median": gap, "runs": [round(g, 3) for g in gaps]},
        "summary": {"in_process": headline, "client_process": remote_headline},
        "targets": TARGETS,
        "aims_client_process": aims(remote_headline),
        "reference": REFERENCE,
        "ratio_in_process": ratios(headline),
        "ratio_client_process": ratios(remote_headline),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
