"""The fleet: many simulated worker nodes in one process (actors/node/fleet), and what
one costs.

    python bench/fleet.py [--nodes 200] [--tasks 2000] [--idle 10] [--smoke]
    python bench/fleet.py --serve --join-addr HOST:PORT --join-token TOKEN --nodes N
                          --state-dir DIR [--start-delay S] [--fail-rate R] [--seed N]

``--serve`` runs a fleet for another program (bench/scale.py, bench/_fleet.py speaks its
JSON-lines protocol on stdin and stdout): every node joins the cluster by token with its
own certificate and CURVE key (or resumes from ``--state-dir``), opens its own dispatcher
session, heartbeats, and runs its tasks on the simulated executor (tasks start after
``--start-delay`` seconds, fail at ``--fail-rate``, exit on demand). One I/O thread.

Without ``--serve`` it measures the fleet against one real manager (``swarm-node
--executor process``, drained so every task goes to the fleet): the join rate, the time
until every session is open, the fleet process's memory and CPU per node while idle
(heartbeats only) and per task for a service of ``--tasks`` replicas, and the
exit-on-demand path (10 tasks exit with code 1; the orchestrator replaces them). As the
reference, one real ``swarm-node`` worker process joined to the same manager: its memory
and its threads, against a fleet node's share. Prints one JSON document. ``--smoke``: 5
nodes, 50 tasks, 2 s idle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import stop_on_sigterm  # noqa: E402
from _fleet import FleetProcess, proc_cpu_seconds, proc_rss_bytes  # noqa: E402

from tests.support.swarm import Swarm, poll  # noqa: E402


def log(message: str) -> None:
    print(f"[fleet] {message}", file=sys.stderr, flush=True)


# -- --serve ------------------------------------------------------------------------------
def serve(args: argparse.Namespace) -> int:
    from actors.heap import tune_collector
    from actors.log import configure
    from actors.node.fleet import Fleet, SimSettings, enlist

    configure("json", level=logging.WARNING)
    tune_collector()  # a fleet holds as many tasks as the managers do
    started = time.monotonic()
    members = enlist(
        Path(args.state_dir),
        args.nodes,
        join_addr=args.join_addr,
        token=args.join_token,
        name=args.name,
        parallel=args.join_parallel,
    )
    enlist_s = time.monotonic() - started
    sim = SimSettings(start_delay=args.start_delay, fail_rate=args.fail_rate)
    fleet = Fleet(members, sim=sim, seed=args.seed, ramp=args.ramp).start()
    # SIGTERM interrupts the wait for the next command (a flag read between commands was
    # not, while stdin was quiet: the fleet ran on until killed)
    stop_on_sigterm()

    def say(doc: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()

    say({"event": "ready", "nodes": fleet.node_ids, "enlist_s": round(enlist_s, 3)})
    try:
        for line in sys.stdin:
            try:
                command = json.loads(line)
                rid = command.get("id")
                cmd = command.get("cmd")
            except (ValueError, AttributeError):
                say({"event": "reply", "id": None, "error": f"not a command: {line[:80]!r}"})
                continue
            if not fleet.alive:
                say({"event": "reply", "id": rid, "error": "the fleet's loop died (see log)"})
                continue
            try:
                if cmd == "stats":
                    result: Any = fleet.stats(command.get("nodes")).as_dict()
                elif cmd == "exit":
                    result = fleet.exit_tasks(
                        str(command["service"]), int(command["count"]), int(command["code"])
                    )
                elif cmd == "stop":
                    say({"event": "reply", "id": rid, "result": True})
                    break
                else:
                    raise ValueError(f"unknown command {cmd!r} (stats, exit, stop)")
            except (KeyError, ValueError, TypeError) as exc:
                say({"event": "reply", "id": rid, "error": str(exc)})
                continue
            say({"event": "reply", "id": rid, "result": result})
    except KeyboardInterrupt:  # SIGTERM (stop_on_sigterm) or Ctrl-C
        pass
    finally:
        fleet.stop()
    return 0


# -- the bench ----------------------------------------------------------------------------
def threads_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def measure(nodes: int, tasks: int, idle_s: float, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with Swarm(workdir) as swarm:
        manager = swarm.start_node("m1", executor="process")
        manager.wait_ready()
        manager.ctl_json("node", "update", "--availability", "drain", manager.node_id)
        token = manager.join_token("worker")
        reference = swarm.join("w1", manager, token, executor="process")
        swarm.wait_cluster(1, 1)
        manager.ctl_json("node", "update", "--availability", "drain", reference.node_id)
        fleet = FleetProcess(
            join_addr=manager.remote_api,
            token=token,
            nodes=nodes,
            state_dir=workdir / "fleet",
            log_path=workdir / "fleet.log",
        )
        try:
            out["enlist_s"] = fleet.enlist_s
            out["joins_per_s"] = round(nodes / fleet.enlist_s, 1)
            started = time.monotonic()
            poll(lambda: fleet.stats()["sessions_open"] == nodes, "every session open", 120)
            out["sessions_open_s"] = round(time.monotonic() - started, 3)
            rss_idle = fleet.rss_bytes()
            cpu0, t0 = fleet.cpu_seconds(), time.monotonic()
            time.sleep(idle_s)  # a measuring interval: nothing is waited for
            idle_cpu = fleet.cpu_seconds() - cpu0
            idle_wall = time.monotonic() - t0
            out["idle"] = {
                "seconds": round(idle_wall, 2),
                "fleet_cpu_s": round(idle_cpu, 3),
                "cpu_per_node_per_s_us": round(idle_cpu / nodes / idle_wall * 1e6, 1),
                "rss_bytes": rss_idle,
                "rss_per_node_bytes": rss_idle // nodes,
                "threads": threads_of(fleet.pid),
            }
            manager.ctl_json(
                "service", "create", "--name", "fleet-bench", "--replicas", str(tasks),
                "--restart-delay", "0s", "--detach", "img", "sleep", "1",
            )  # fmt: skip
            cpu0, t0 = fleet.cpu_seconds(), time.monotonic()
            poll(lambda: fleet.stats()["running"] == tasks, f"{tasks} running", 300, 0.2)
            run_s = time.monotonic() - t0
            rss_tasks = fleet.rss_bytes()
            out["tasks"] = {
                "tasks": tasks,
                "all_running_in_fleet_s": round(run_s, 3),
                "fleet_cpu_per_task_us": round((fleet.cpu_seconds() - cpu0) / tasks * 1e6, 1),
                "rss_bytes": rss_tasks,
                "rss_per_task_bytes": max(0, rss_tasks - rss_idle) // tasks,
            }
            told = fleet.exit_tasks("fleet-bench", 10, 1)
            t0 = time.monotonic()

            def replaced() -> bool:
                s = fleet.stats()
                return s["states"].get("failed", 0) >= told and s["running"] == tasks

            poll(replaced, "failed tasks replaced", 120, 0.1)
            out["exit_on_demand"] = {
                "told": told,
                "replaced_s": round(time.monotonic() - t0, 3),
            }
            ref_pid = reference.process.pid if reference.process is not None else 0
            out["reference_worker"] = {
                "what": "one swarm-node worker process (--executor process), idle",
                "rss_bytes": proc_rss_bytes(ref_pid),
                "threads": threads_of(ref_pid),
                "cpu_s_so_far": round(proc_cpu_seconds(ref_pid), 3),
            }
            ref_rss = out["reference_worker"]["rss_bytes"]
            out["ratios"] = {
                "real_worker_rss_over_fleet_node": (
                    round(ref_rss / out["idle"]["rss_per_node_bytes"], 1)
                    if out["idle"]["rss_per_node_bytes"]
                    else None
                ),
                "fleet_threads_per_node": round(out["idle"]["threads"] / nodes, 4),
            }
        finally:
            fleet.close()
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="run a fleet (stdin/stdout)")
    parser.add_argument("--join-addr", help="--serve: a manager's remote API HOST:PORT")
    parser.add_argument("--join-token", help="--serve: the cluster's worker join token")
    parser.add_argument("--state-dir", help="--serve: one state dir per node under it")
    parser.add_argument("--name", default="fleet", help="--serve: hostname prefix")
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle sessions")
    parser.add_argument("--start-delay", type=float, default=0.0, help="seconds a start takes")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="tasks failing at start")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ramp", type=float, default=0.0, help="spread first sessions (s)")
    parser.add_argument("--join-parallel", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="5 nodes, 50 tasks, 2 s idle")
    args = parser.parse_args(argv)
    if args.serve and not (args.join_addr and args.join_token and args.state_dir):
        parser.error("--serve needs --join-addr, --join-token and --state-dir")
    if args.smoke:
        args.nodes, args.tasks, args.idle = 5, 50, 2.0
    if args.nodes < 1 or args.tasks < 0:
        parser.error("--nodes must be at least 1 and --tasks at least 0")
    if not 0 <= args.fail_rate <= 1 or args.start_delay < 0:
        parser.error("--fail-rate must be within [0, 1] and --start-delay at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve(args)
    load_before = os.getloadavg()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sn-fleet-") as tmp:
        figures = measure(args.nodes, max(args.tasks, 10), args.idle, Path(tmp))
    result = {
        "bench": "fleet",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", "bench/fleet.py", *(argv or sys.argv[1:])]),
        "nodes": args.nodes,
        "smoke": args.smoke,
        **figures,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
