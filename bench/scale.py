"""Scale: real managers and a fleet of simulated workers, up to 100,000 tasks on 1,000 nodes.

    python bench/scale.py [--sizes 1000x100000,100x10000] [--services 10] [--drain 100]
                          [--start-delay 0] [--fail-rate 0] [--out DIR] [--smoke]

For each size NODESxTASKS, a fresh cluster (bench/_scale.py): 3 real ``swarm-node``
managers (drained: tasks go to the fleet) and one fleet process of NODES simulated
workers (bench/fleet.py --serve: each node joined by token with its own certificate,
CURVE key and dispatcher session, on one I/O thread). Then:

1. **create**: ``--services`` services totalling TASKS replicas, created back to back
   through the leader's control socket; until a manager's store (``service ls`` on a
   follower) counts every replica running (polled every 0.25 s once the fleet, polled
   until then, runs them all). Figures: the time, the
   overall rate (tasks/s) and the rate over time; the managers' RSS before and after, per
   task; the fleet's own count as a check.
2. **snapshot**: ``cluster update --snapshot-interval 1`` and back, so every manager
   snapshots the full store; its size and save time from the managers'
   ``raft.snapshot.created`` events; then a follower restarts (SIGTERM) and its
   ``raft.node.started`` event gives the time to restore the store from it.
3. **drain**: ``node update --availability drain`` of ``--drain`` fleet nodes (16 requests
   in flight at once); until none of them runs a task (the fleet's count) and the store
   counts TASKS running again.
4. **leader loss**: ``kill -9`` of the leader; until a write through a survivor commits
   (bench/failover.py's writers), until the probe service's scale-up is acknowledged
   (``probe_scaled_s``: the bench finds the new leader first), until the new leader has
   reconciled (that 1-replica probe runs), and until every fleet session is open again.

``--workdir DIR`` runs the cluster in DIR and keeps it: each manager's JSON log
(``m1.1.log``, ...) holds the failover's timeline (election, the leader group's start,
the sessions it opened).

Correctness is checked, never timed, and reported under ``checks`` (every replica of
every service running, the fleet running exactly the tasks the store runs, drained nodes
empty); a failed check makes the exit status 1. The JSON carries the anchors' figures,
the aims and the ratios, the load average beside each phase, and, with ``--out DIR``,
is written to DIR/scale.json beside DIR/scale.png (running tasks against time, one curve
per size; matplotlib). ``--smoke``: one size of 5x100, 2 services, 1 drained node.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import stop_on_sigterm  # noqa: E402
from _scale import POLL_S, PROBE, ScaleCluster, split  # noqa: E402
from failover import PROBE as WRITE_PROBE  # noqa: E402
from failover import RUN_TIMEOUT_S, Writer  # noqa: E402

from api.task_state import parse_task_state  # noqa: E402
from tests.support.swarm import SwarmNode, poll  # noqa: E402

ANCHORS = {
    "swarmkit_scheduler_benchmark": {
        "what": "SwarmKit's scheduler benchmark: 100,000 tasks on 100,000 nodes in 29 s",
        "tasks": 100_000, "seconds": 29.0, "tasks_per_s": round(100_000 / 29.0),
    },
    "swarm2k": {
        "what": "Docker swarm mode (Swarm2k): about 95,000 tasks on 2,000+ nodes",
        "tasks": 95_000, "nodes": 2_000,
    },
    "nomad_c1m": {
        "what": "Nomad C1M: 1,000,000 containers on 5,000 hosts at about 3,750 per second",
        "tasks": 1_000_000, "nodes": 5_000, "tasks_per_s": 3_750,
    },
}  # fmt: skip
DRAIN_CONCURRENCY = 16  # drain requests in flight at once (one after another: ~0.4 s each)
AIMS = {
    "tasks_per_s": 3_750,
    "manager_rss_per_task_bytes": 4 * 1024,
    "drain_s": 10.0,
    "leader_loss_s": 10.0,
    "snapshot_s": 2.0,  # save, and restore
}


def log(message: str) -> None:
    print(f"[scale] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def wait_running(
    cluster: ScaleCluster,
    names: Sequence[str],
    total: int,
    timeout: float,
    timeline: list[tuple[float, int]] | None = None,
) -> list[tuple[float, int]]:
    """(seconds, running) samples from now until the store counts ``total`` running.
    While the fleet runs fewer, the samples are the fleet's own count; then the store's
    (``service ls`` on a follower) until it counts them all. A store count reads every
    task under the store's lock: taken four times a second at 100,000 tasks it kept a
    follower's Raft loop from its heartbeats long enough for elections."""
    assert cluster.fleet is not None
    fleet = cluster.fleet
    started = time.monotonic()
    timeline = [] if timeline is None else timeline  # the caller's keeps what a failure saw
    in_fleet = True
    while True:
        if in_fleet:
            running = int(fleet.stats()["running"])  # raises at once if its loop died
            in_fleet = running < total
        if not in_fleet:
            running = sum(cluster.running(names).values())
        at = time.monotonic() - started
        timeline.append((round(at, 3), min(running, total)))
        if not in_fleet and running >= total:
            return timeline
        if at > timeout:
            where = "the fleet runs" if in_fleet else "the store counts"
            raise RuntimeError(f"{where} {running} of {total} running after {timeout:g}s")
        time.sleep(POLL_S)


def rates(timeline: Sequence[tuple[float, int]], window: float = 1.0) -> list[tuple[float, int]]:
    """Tasks per second over each ``window`` of the timeline."""
    out: list[tuple[float, int]] = []
    start_t, start_n = timeline[0]
    for at, n in timeline[1:]:
        if at - start_t >= window:
            out.append((round(at, 2), round((n - start_n) / (at - start_t))))
            start_t, start_n = at, n
    return out


def carried(before: dict[str, Any], after: dict[str, Any], tasks: int) -> dict[str, Any]:
    """Session frames and status batches (and those put back for no reply in time)
    between two fleet stats, and tasks per each."""
    out: dict[str, Any] = {
        key: int(after[key]) - int(before[key])
        for key in ("frames", "status_batches", "status_updates", "late_status_batches")
    }
    out["tasks_per_frame"] = round(tasks / out["frames"], 2) if out["frames"] else None
    # sessions that ended meanwhile, and why: each one reopened sends a full set again
    out["session_ends"] = ends_between(before, after)
    batches = out["status_batches"]
    out["updates_per_status_batch"] = round(out["status_updates"] / batches, 2) if batches else None
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float], but: str = "") -> dict[str, float]:
    """CPU seconds each process (``ScaleCluster.cpu_seconds``) spent between two readings,
    every one ``but`` the one named."""
    return {name: round(after[name] - before.get(name, 0.0), 2) for name in after if name != but}


def ends_between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """The fleet's session ends between two of its stats, counted by reason."""
    ends = Counter(after["ends"])
    ends.subtract(before["ends"])
    return {reason: n for reason, n in ends.most_common() if n > 0}


# -- the phases ---------------------------------------------------------------------------
def create(
    cluster: ScaleCluster,
    tasks: int,
    services: int,
    timeout: float,
    timeline: list[tuple[float, int]],
) -> dict[str, Any]:
    names = [f"scale-{i}" for i in range(services)]
    rss_before = cluster.manager_rss()
    cpu_before = cluster.cpu_seconds()
    assert cluster.fleet is not None
    carried_before = cluster.fleet.stats()
    load_before = load()
    started = time.monotonic()
    for name, replicas in zip(names, split(tasks, services), strict=True):
        cluster.create(name, replicas)
    created_s = time.monotonic() - started
    wait_running(cluster, names, tasks, timeout, timeline)
    total_s = time.monotonic() - started
    rss_after = cluster.manager_rss()
    rss_peak = cluster.manager_rss("VmHWM")
    cpu_after = cluster.cpu_seconds()
    leader = cluster.leader().name
    assert cluster.fleet is not None
    fleet = cluster.fleet.stats()
    per_service = cluster.running(names)
    exact_after_s = fleet_exact_after(cluster, tasks)
    return {
        "names": names,
        "created_s": round(created_s, 3),
        "all_running_s": round(total_s, 3),
        "tasks_per_s": round(tasks / total_s),
        "peak_tasks_per_s": max((r for _, r in rates(timeline)), default=None),
        "timeline": timeline,
        "rates": rates(timeline),
        "manager_rss_bytes": {
            "before": rss_before,
            "after": rss_after,
            "peak": rss_peak,
            "leader": leader,
        },
        "leader_rss_per_task_bytes": round((rss_after[leader] - rss_before[leader]) / tasks),
        "leader_peak_rss_per_task_bytes": round((rss_peak[leader] - rss_before[leader]) / tasks),
        "fleet_rss_bytes": cluster.fleet.rss_bytes(),
        # CPU seconds each process spent until all ran: steadier than the time on a
        # machine other work shares (the load averages say how much)
        "cpu_seconds": cpu_spent(cpu_before, cpu_after),
        # messages the fleet carried until all ran: what each task's CPU is spread over
        "fleet_messages": carried(carried_before, fleet, tasks),
        "load_average": {"before": load_before, "after": load()},
        "checks": {
            "every_replica_running": per_service
            == dict(zip(names, split(tasks, services), strict=True)),
            "fleet_runs_exactly_the_tasks": exact_after_s is not None,
        },
        # what the fleet held when the store first counted every replica running: more
        # tasks than replicas when a session expired under load and its tasks ran again
        # elsewhere before the node heard it should stop them; then how long until the
        # fleet ran exactly the tasks (None: not within FLEET_EXACT_WAIT_S)
        "fleet_at_all_running": {
            key: fleet[key] for key in ("tasks", "running", "sessions_opened", "last_ends")
        },
        "fleet_exact_after_s": exact_after_s,
    }


FLEET_EXACT_WAIT_S = 60.0


def fleet_exact_after(cluster: ScaleCluster, tasks: int) -> float | None:
    """Seconds until the fleet runs exactly ``tasks`` tasks and every other task it holds
    has finished (0.0: already). A node whose session expired holds its old tasks, shut
    down, while the store keeps them as history: that is the nodes converged, not a
    task too many (the session ends say how many expired)."""
    assert cluster.fleet is not None
    fleet = cluster.fleet
    started = time.monotonic()

    def exact() -> bool:
        now = fleet.stats()
        finished = sum(
            n for label, n in now["states"].items() if parse_task_state(label).is_terminal
        )
        return bool(now["running"] == tasks and now["tasks"] == tasks + finished)

    try:
        poll(exact, "the fleet running exactly the tasks", FLEET_EXACT_WAIT_S, POLL_S)
    except AssertionError:
        return None
    return round(time.monotonic() - started, 3)


def snapshot(cluster: ScaleCluster) -> dict[str, Any]:
    """Every manager snapshots the whole store (interval 1, then back); then a follower
    restarts and restores it (``raft.node.started``'s restore time). The figures are those
    of the snapshot this makes, not of one made earlier (by bytes, during the create)."""
    before = {name: int(s["made"]) for name, s in cluster.snapshots().items()}
    cluster.write("control.cluster.update", {"snapshot_interval": 1})
    cluster.write("control.cluster.update", {"snapshot_interval": 10_000})
    managers = {n.name for n in cluster.swarm.managers}
    with contextlib.suppress(AssertionError):
        poll(lambda: managers <= set(cluster.snapshots(before)), "every manager's snapshot", 60)
    found = cluster.snapshots(before)
    restored = cluster.restart_follower() if len(managers) > 1 else {"snapshot_bytes": None}
    return {
        "by_manager": found,
        "bytes": max((int(v["bytes"] or 0) for v in found.values()), default=None),
        "save_s": max((float(v["seconds"] or 0) for v in found.values()), default=None),
        "restore": restored,
        "checks": {
            "every_manager_snapshotted": managers <= set(found),
            "a_follower_restored_it": len(managers) < 2 or bool(restored["snapshot_bytes"]),
        },
    }


def drain(cluster: ScaleCluster, names: Sequence[str], tasks: int, count: int) -> dict[str, Any]:
    assert cluster.fleet is not None
    fleet = cluster.fleet
    victims = fleet.node_ids[:count]
    held = fleet.stats(victims)["running"]
    load_before = load()
    cpu_before = cluster.cpu_seconds()
    started = time.monotonic()

    def drain_one(node_id: str) -> None:
        cluster.write("control.node.update", {"node": node_id, "availability": "drain"})

    log(f"drain: {count} nodes, {held} tasks")
    with ThreadPoolExecutor(DRAIN_CONCURRENCY) as pool:  # as a script would, in parallel
        list(pool.map(drain_one, victims))
    sent_s = time.monotonic() - started
    # (seconds, tasks still running on the drained nodes): where the time goes
    left: list[tuple[float, int]] = []

    def empty() -> bool:
        running = int(fleet.stats(victims)["running"])
        left.append((round(time.monotonic() - started, 3), running))
        return running == 0

    poll(empty, "drained nodes empty", 600, POLL_S)
    empty_s = time.monotonic() - started
    # then (seconds, tasks running): the fleet's count, then the store's
    elsewhere = wait_running(cluster, names, tasks, 600)
    total_s = time.monotonic() - started
    cpu_after = cluster.cpu_seconds()
    after = fleet.stats()
    return {
        "nodes": count,
        "tasks_moved": held,
        "requests_sent_s": round(sent_s, 3),
        "drained_nodes_empty_s": round(empty_s, 3),
        "tasks_running_elsewhere_s": round(total_s, 3),
        "load_average": {"before": load_before, "after": load()},
        # each process's CPU over the drain: a machine of 2 cores shared by them all
        "cpu_seconds": cpu_spent(cpu_before, cpu_after),
        "left_on_drained": left,
        "running_after_empty": [(round(at + empty_s, 3), n) for at, n in elsewhere],
        "checks": {
            "drained_nodes_empty": fleet.stats(victims)["tasks"] == 0
            or fleet.stats(victims)["running"] == 0,
            "fleet_runs_every_task": after["running"] == tasks,
        },
    }


def leader_loss(cluster: ScaleCluster, names: Sequence[str], tasks: int) -> dict[str, Any]:
    assert cluster.fleet is not None
    fleet = cluster.fleet
    leader = cluster.leader(refresh=True)
    survivors = [n for n in cluster.swarm.managers if n is not leader]
    cluster.create(WRITE_PROBE, 0)
    stop = threading.Event()
    writers = [Writer(n, stop, offset=i * 0.1) for i, n in enumerate(survivors)]
    load_before = load()
    try:
        for w in writers:
            poll(lambda w=w: w.write_once(5.0), f"a write via {w.node.name}", 30)
        before = fleet.stats()
        cpu_before = cluster.cpu_seconds()
        killed = time.monotonic()
        killed_utc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        for w in writers:
            w.killed = killed
        leader.kill()
        for w in writers:
            w.start()
        stop.wait(RUN_TIMEOUT_S)
        stop.set()
        done = [w.committed_at for w in writers if w.committed_at is not None]
        if not done:
            raise RuntimeError("no write committed after the leader's kill")
        write_s = min(done) - killed
    finally:
        stop.set()
        for w in writers:
            w.join(5)
            w.close()
    cluster.clients.pop(leader.name).close()
    cluster.write("control.service.scale", {"service": PROBE, "replicas": 1})
    probe_scaled_s = time.monotonic() - killed
    poll(lambda: cluster.running_of(PROBE) == 1, "the probe running", 600, POLL_S)
    reconciled_s = time.monotonic() - killed
    poll(lambda: fleet.stats()["sessions_open"] == cluster.n_nodes, "sessions back", 600, 0.5)
    sessions_s = time.monotonic() - killed
    cpu_after = cluster.cpu_seconds()
    wait_running(cluster, names, tasks, 600)
    all_s = time.monotonic() - killed
    final = fleet.stats()
    new_leader = cluster.leader(refresh=True)
    return {
        "killed": leader.name,
        "new_leader": new_leader.name,
        "write_committed_s": round(write_s, 3),
        "probe_scaled_s": round(probe_scaled_s, 3),
        "reconciled_s": round(reconciled_s, 3),
        "every_session_back_s": round(sessions_s, 3),
        "every_task_counted_running_s": round(all_s, 3),
        # CPU seconds each survivor and the fleet spent from the kill until every session
        # was back: the work the failover cost, steadier than its times on a shared machine
        "cpu_seconds": cpu_spent(cpu_before, cpu_after, but=leader.name),
        "load_average": {"before": load_before, "after": load()},
        # every session or attempt that ended from the kill on, and why: one at the dead
        # leader, then one at each follower that is not the new leader yet
        "fleet_session_ends": ends_between(before, final),
        # the new leader's sessions since the kill: one opened for an agent that had given
        # up on it expires, and its node's tasks are rescheduled
        "new_leader_sessions": session_events(new_leader, killed_utc),
        "checks": {"fleet_runs_every_task": final["running"] >= tasks},
    }


def session_events(node: SwarmNode, since_utc: str) -> dict[str, int]:
    counts = dict.fromkeys(("opened", "expired"), 0)
    for event in node.log_events():
        kind = str(event.get("event", "")).removeprefix("dispatcher.session.")
        if kind in counts and str(event.get("timestamp", "")) >= since_utc:
            counts[kind] += 1
    return counts


def one_size(
    nodes: int, tasks: int, args: argparse.Namespace, workdir: Path, result: dict[str, Any]
) -> None:
    """Fill ``result`` phase by phase: a phase that fails leaves what came before, and a
    create that fails its timeline (how far it got)."""
    fleet_args = [
        "--start-delay", str(args.start_delay), "--fail-rate", str(args.fail_rate),
        "--seed", str(args.seed), "--join-parallel", str(args.join_parallel),
    ]  # fmt: skip
    cluster = ScaleCluster(
        workdir, managers=args.managers, nodes=nodes, fleet_args=fleet_args, log=log
    )
    result.update(nodes=nodes, tasks=tasks, services=args.services)
    try:
        log(f"{nodes}x{tasks}: starting {args.managers} managers and the fleet")
        result["setup"] = cluster.start()
        log(f"{nodes}x{tasks}: ready {result['setup']}; creating the services")
        timeline: list[tuple[float, int]] = []
        try:
            created = create(cluster, tasks, args.services, args.timeout, timeline)
        except BaseException:
            result["create"] = {
                "incomplete": True,
                "timeline": timeline,
                "rates": rates(timeline) if timeline else [],
                "load_average": load(),
            }
            raise
        names = created.pop("names")
        result["create"] = created
        log(f"{nodes}x{tasks}: all running in {created['all_running_s']}s")
        result["snapshot"] = snapshot(cluster)
        drained = min(args.drain, nodes - 1)
        if drained > 0:
            result["drain"] = drain(cluster, names, tasks, drained)
            log(f"{nodes}x{tasks}: drain {result['drain']['tasks_running_elsewhere_s']}s")
        if args.managers >= 3:
            result["leader_loss"] = leader_loss(cluster, names, tasks)
            log(f"{nodes}x{tasks}: leader loss {result['leader_loss']}")
    finally:
        cluster.close()


# -- the document -------------------------------------------------------------------------
def compare(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    big = max(sizes, key=lambda s: s["tasks"])
    rate = big.get("create", {}).get("tasks_per_s")
    rss = big.get("create", {}).get("leader_rss_per_task_bytes")
    drain_s = big.get("drain", {}).get("tasks_running_elsewhere_s")
    loss_s = big.get("leader_loss", {}).get("reconciled_s")
    cpus = os.cpu_count() or 1
    return {
        "size": f"{big['nodes']}x{big['tasks']}",
        "tasks_per_s": rate,
        "tasks_per_s_per_core": round(rate / cpus) if rate else None,
        "ours_over_swarmkit_scheduler_benchmark": (
            round(rate / ANCHORS["swarmkit_scheduler_benchmark"]["tasks_per_s"], 2)
            if rate
            else None
        ),
        "ours_over_nomad_c1m": round(rate / 3_750, 2) if rate else None,
        "meets_aims": {
            "tasks_per_s": rate is not None and rate >= AIMS["tasks_per_s"],
            "manager_rss_per_task": rss is not None and rss <= AIMS["manager_rss_per_task_bytes"],
            "drain": drain_s is not None and drain_s < AIMS["drain_s"],
            "leader_loss": loss_s is not None and loss_s < AIMS["leader_loss_s"],
        },
        "note": "the anchors ran on more cores than this machine has; their core counts "
        "are not in the issue, so the ratios are per machine",
    }


def plot(sizes: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for size in sizes:
        timeline = size.get("create", {}).get("timeline")
        if timeline:
            xs, ys = zip(*timeline, strict=True)
            label = f"{size['tasks']:,} tasks on {size['nodes']:,} nodes"
            ax.plot(xs, ys, label=label)
    ax.set_xlabel("seconds since the services were created")
    ax.set_ylabel("tasks running (the fleet's count, then the store's)")
    ax.set_title(f"swarmnode: 3 managers and a fleet, {time.strftime('%Y-%m-%d')}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def checks_of(sizes: list[dict[str, Any]]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for size in sizes:
        for phase in ("create", "snapshot", "drain", "leader_loss"):
            for name, ok in size.get(phase, {}).get("checks", {}).items():
                out[f"{size['nodes']}x{size['tasks']}.{phase}.{name}"] = bool(ok)
    return out


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        nodes, _, tasks = part.strip().partition("x")
        if not (nodes.isdigit() and tasks.isdigit()) or int(nodes) < 2:
            raise argparse.ArgumentTypeError(f"size {part!r}: NODESxTASKS, at least 2 nodes")
        sizes.append((int(nodes), int(tasks)))
    return sizes


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes("1000x100000,100x10000"))
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--drain", type=int, default=100, help="fleet nodes to drain")
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--join-parallel", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=900.0, help="per create phase")
    parser.add_argument("--out", type=Path, help="write scale.json and scale.png here")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="run the cluster here and keep it (the managers' and the fleet's logs); "
        "a temporary directory, removed at the end, by default",
    )
    parser.add_argument("--smoke", action="store_true", help="5x100, 2 services, drain 1")
    args = parser.parse_args(argv)
    if args.workdir is not None and args.workdir.exists() and any(args.workdir.iterdir()):
        # a cluster's state left there would be started again, not a new one
        parser.error(f"--workdir {args.workdir} is not empty")
    if args.smoke:
        args.sizes, args.services, args.drain = [(5, 100)], 2, 1
    if args.services < 1 or args.managers < 1:
        parser.error("--services and --managers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    started = time.monotonic()
    sizes: list[dict[str, Any]] = []
    errors: list[str] = []
    load_before = load()
    with contextlib.ExitStack() as stack:
        tmp = args.workdir or stack.enter_context(tempfile.TemporaryDirectory(prefix="sn-scale-"))
        for i, (nodes, tasks) in enumerate(args.sizes):
            try:
                result: dict[str, Any] = {"nodes": nodes, "tasks": tasks}
                sizes.append(result)
                one_size(nodes, tasks, args, Path(tmp) / f"size{i}", result)
            except (Exception, KeyboardInterrupt) as exc:
                errors.append(f"{nodes}x{tasks}: {type(exc).__name__}: {exc}")
                log(errors[-1])
                if isinstance(exc, KeyboardInterrupt):
                    break
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        png = out / "scale.png"
        if sizes:
            plot(sizes, png)
        checks = checks_of(sizes)
        result = {
            "bench": "scale",
            "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["python", "bench/scale.py", *(argv or sys.argv[1:])]),
            "smoke": args.smoke,
            "sizes": sizes,
            "compare": compare(sizes) if sizes else None,
            "anchors": ANCHORS,
            "aims": AIMS,
            "checks": checks,
            "plot": str(png) if args.out and sizes else None,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": {"before": load_before, "after": load()},
            "errors": errors,
            "elapsed_s": round(time.monotonic() - started, 1),
        }
        text = json.dumps(result, indent=2)
        if args.out:
            (out / "scale.json").write_text(text + "\n")
        print(text)
    return 1 if errors or not all(checks.values()) else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
