"""Soak: a 3-manager + 2-worker cluster of real processes under steady churn, sampled.

    python bench/soak.py [--duration 900] [--sample-every 20] [--restart-every 240]
                         [--kill-every 300] [--keep-logs DIR] [--smoke]

What a team running swarmnode for a week meets, in minutes: one cluster
(``tests/support/swarm.py``, ``--executor process``, each node serving Prometheus
metrics) and, for ``--duration`` seconds, rounds of ``swarmctl`` commands sent to the
live managers in turn:

- ``service update`` (a new env value: a rolling update) and ``service scale`` (2-5) of
  a steady service; a service whose tasks exit after 2 s under ``--restart-condition
  any``, so tasks are replaced all the time (the task history limit must hold);
- ``service create`` of a new service and ``service rm`` of the one two rounds older;
  a replicated job (2 completions of ``true``), removed the round after;
- ``secret create``/``rm`` and ``config create``/``rm`` (each round's replaces the last);
- ``node drain``/``activate`` of w1 in turn;
- readers: ``swarmctl events`` (following), ``service logs -f`` and ``node logs -f``,
  each opened in one round and closed (SIGTERM) in the next.

Faults: every ``--restart-every`` s manager m3 gets SIGTERM and starts again; every
``--kill-every`` s worker w2 gets ``kill -9`` and starts again (its task processes go on,
as after a crash of the node process alone). m1, m2 and w1 are never restarted, so their
series are one process's life each.

Every ``--sample-every`` s: per node, RSS, open fds and threads (/proc) and the state
dir's size (Raft WAL, snapshots, worker task db, rest); per manager, its store's objects
by kind and tasks by state (/metrics); from the leader, the most tasks any service slot
holds (``task.ls``), against the cluster's task history limit. Each sample also checks
that every acknowledged create is there and every acknowledged remove is gone.

Prints one JSON document: per node and metric its start, end, extremes and slope per
hour after a warm-up (a process's series is its current life: restarts reset it);
the swarmctl calls by command with their failures (each with the node, the time and the
error); lost writes; whether the cluster converged once the churn stopped. ``--smoke``
runs one round, one restart of each kind and three samples (seconds, for the test).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py

from _common import machine, stop_on_sigterm, use_bytecode_cache  # noqa: E402
from _soak import process_sample, state_dir_sizes, store_counts, trend  # noqa: E402

from tests.support.ports import free_port  # noqa: E402
from tests.support.swarm import ROOT as SWARM_ROOT  # noqa: E402
from tests.support.swarm import Swarm, SwarmNode, poll  # noqa: E402
from transport.client import Client  # noqa: E402

MANAGERS = ("m1", "m2", "m3")
WORKERS = ("w1", "w2")
RESTARTED_MANAGER, KILLED_WORKER, DRAINED_WORKER = "m3", "w2", "w1"
STEADY, CRASHER = "soak-steady", "soak-crash"
IMAGE = "busybox"  # the process executor runs the command; the image is a label
CTL_TIMEOUT_S = 60.0
CONVERGE_TIMEOUT_S = 120.0
MAX_FAILURES_KEPT = 40
STILL_UP = ("running", "starting", "assigned", "accepted")


def log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def swarmctl_argv(socket: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cli.ctl", "--socket", str(socket), *args]


class Soak:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.swarm = Swarm(workdir)
        self.started = time.monotonic()
        self.calls: Counter[str] = Counter()
        self.failures: list[dict[str, Any]] = []
        self.failure_counts: Counter[str] = Counter()
        self.samples: list[dict[str, Any]] = []
        self.readers: list[tuple[str, subprocess.Popen[bytes], Path, SwarmNode, int]] = []
        self.reader_lines: dict[str, list[int]] = {}
        self.restarts: list[dict[str, Any]] = []
        self.metrics_ports: dict[str, int] = {}
        # what acknowledged writes promise: these exist, those do not
        self.expected: dict[str, set[str]] = {"service": set(), "secret": set(), "config": set()}
        self.gone: dict[str, set[str]] = {"service": set(), "secret": set(), "config": set()}
        self.lost: list[dict[str, Any]] = []
        self.turn = 0

    def now(self) -> float:
        return round(time.monotonic() - self.started, 1)

    # -- the cluster ----------------------------------------------------------------------
    def node(self, name: str) -> SwarmNode:
        return next(n for n in self.swarm.nodes if n.name == name)

    def _metrics_extra(self, name: str) -> tuple[str, ...]:
        self.metrics_ports[name] = free_port()
        return ("--metrics-addr", f"127.0.0.1:{self.metrics_ports[name]}")

    def start(self) -> None:
        first = self.swarm.start_node("m1", extra=self._metrics_extra("m1"))
        first.wait_ready()
        manager_token, worker_token = first.join_token("manager"), first.join_token("worker")
        for name in (*MANAGERS[1:], *WORKERS):
            token = manager_token if name.startswith("m") else worker_token
            extra = (*first.join_args(token), *self._metrics_extra(name))
            self.swarm.start_node(name, extra=extra)
        self.swarm.wait_cluster(len(MANAGERS), len(WORKERS), timeout=120)

    def ctl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str] | None:
        """``swarmctl ARGS`` on the next live manager; a failure is recorded, not raised."""
        live = [n for n in self.swarm.managers if n.process is not None]
        node = live[self.turn % len(live)]
        self.turn += 1
        command = " ".join(args[:2])
        self.calls[command] += 1
        try:
            result = subprocess.run(
                swarmctl_argv(node.socket, *args),
                cwd=SWARM_ROOT,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=CTL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            self._failed(command, args, node, "no answer within the bench's timeout")
            return None
        if result.returncode != 0:
            self._failed(command, args, node, result.stderr.strip()[-400:])
            return None
        return result

    def _failed(self, command: str, args: Sequence[str], node: SwarmNode, error: str) -> None:
        self.failure_counts[command] += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            since = [r["at_s"] for r in self.restarts if r["node"] == node.name]
            self.failures.append(
                {
                    "at_s": self.now(),
                    "via": node.name,
                    "s_since_via_restarted": round(self.now() - since[-1], 1) if since else None,
                    "args": list(args),
                    "error": error,
                }
            )
        log(f"swarmctl {' '.join(args)} via {node.name}: {error}")

    def created(self, kind: str, name: str, result: Any) -> None:
        if result is not None:
            self.expected[kind].add(name)
            self.gone[kind].discard(name)

    def removed(self, kind: str, name: str, result: Any) -> None:
        if result is not None:
            self.expected[kind].discard(name)
            self.gone[kind].add(name)

    # -- one round of churn ---------------------------------------------------------------
    def setup_services(self) -> None:
        steady = self.ctl(
            "service", "create", "--detach", "--name", STEADY, "--replicas", "3",
            "--update-parallelism", "2", IMAGE, "sleep", "3600",
        )  # fmt: skip
        self.created("service", STEADY, steady)
        crasher = self.ctl(
            "service", "create", "--detach", "--name", CRASHER, "--replicas", "2",
            "--restart-condition", "any", "--restart-delay", "1s",
            IMAGE, "sh", "-c", "sleep 2; exit 1",
        )  # fmt: skip
        self.created("service", CRASHER, crasher)

    def round(self, i: int) -> None:
        self.ctl("service", "update", "--detach", "--env-add", f"ROUND={i}", STEADY)
        self.ctl("service", "scale", "--detach", f"{STEADY}={2 + i % 4}")
        name = f"soak-c{i}"
        self.created(
            "service",
            name,
            self.ctl("service", "create", "--detach", "--name", name, "--replicas", "2",
                     IMAGE, "sleep", "3600"),
        )  # fmt: skip
        if i >= 2:
            old = f"soak-c{i - 2}"
            self.removed("service", old, self.ctl("service", "rm", old))
        job = f"soak-j{i}"
        self.created(
            "service",
            job,
            self.ctl("service", "create", "--detach", "--name", job, "--mode",
                     "replicated-job", "--replicas", "2", IMAGE, "true"),
        )  # fmt: skip
        if i >= 1:
            old = f"soak-j{i - 1}"
            self.removed("service", old, self.ctl("service", "rm", old))
        for kind in ("secret", "config"):
            name = f"soak-{kind}{i}"
            self.created(kind, name, self.ctl(kind, "create", name, "-", stdin=f"data {i}\n"))
            if i >= 1:
                old = f"soak-{kind}{i - 1}"
                self.removed(kind, old, self.ctl(kind, "rm", old))
        self.ctl("node", "drain" if i % 2 == 0 else "activate", DRAINED_WORKER)
        self.close_readers()
        self.open_reader("events", "events", "--format", "json")
        self.open_reader("service_logs", "service", "logs", "-f", "--tail", "5", STEADY)
        self.open_reader("node_logs", "node", "logs", "-f", "--tail", "5", "m1")

    def open_reader(self, kind: str, *args: str) -> None:
        live = [n for n in self.swarm.managers if n.process is not None]
        node = live[self.turn % len(live)]
        self.turn += 1
        out = self.workdir / f"reader-{kind}-{self.turn}.out"
        with open(out, "wb") as sink:
            process = subprocess.Popen(
                swarmctl_argv(node.socket, *args),
                cwd=SWARM_ROOT,
                stdout=sink,
                stderr=subprocess.STDOUT,
                # Ctrl-C as at a terminal, also when the bench runs in the background
                # (`cmd &` starts it, and so its children, with SIGINT ignored)
                preexec_fn=_default_sigint,
            )
        self.readers.append((kind, process, out, node, node.runs))

    def close_readers(self) -> None:
        for kind, process, out, via, runs in self.readers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # as Ctrl-C ends a follower
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    self.failure_counts[f"reader {kind} ignored SIGINT"] += 1
            elif process.returncode != 0 and via.runs != runs:
                self.failure_counts[f"reader {kind} ended: its manager restarted"] += 1
            elif process.returncode != 0:
                self.failure_counts[f"reader {kind} exited {process.returncode}"] += 1
                if len(self.failures) < MAX_FAILURES_KEPT:
                    with contextlib.suppress(OSError):
                        tail = out.read_text(errors="replace")[-400:]
                        self.failures.append({"at_s": self.now(), "reader": kind,
                                              "args": process.args, "error": tail})  # fmt: skip
            with contextlib.suppress(OSError):
                lines = len(out.read_bytes().splitlines())
                self.reader_lines.setdefault(kind, []).append(lines)
        self.readers.clear()

    # -- faults ---------------------------------------------------------------------------
    def restart_manager(self) -> None:
        node = self.node(RESTARTED_MANAGER)
        at = self.now()
        code = node.terminate(timeout=60)
        node.start()
        self.restarts.append({"node": node.name, "at_s": at, "how": "SIGTERM", "exit": code})

    def kill_worker(self) -> None:
        node = self.node(KILLED_WORKER)
        at = self.now()
        node.kill()
        node.start()
        self.restarts.append({"node": node.name, "at_s": at, "how": "kill -9", "exit": -9})

    # -- samples --------------------------------------------------------------------------
    def leader_tasks(self) -> dict[str, Any]:
        leader = self.swarm.leader()
        if leader is None:
            return {}
        with Client(f"ipc://{leader.socket.absolute()}", timeout=20, name="soak") as client:
            rows = client.request("control.task.ls", {})["tasks"]
            cluster = client.request("control.cluster.inspect", {})["cluster"]
        per_slot = Counter((t.get("service_id"), t.get("slot") or t.get("node_id")) for t in rows)
        worst = per_slot.most_common(1)
        limit = ((cluster.get("spec") or {}).get("orchestration") or {}).get(
            "task_history_retention_limit"
        )
        return {
            "tasks": len(rows),
            "max_tasks_per_slot": worst[0][1] if worst else 0,
            "task_history_limit": limit,
        }

    def check_writes(self) -> None:
        for kind in ("service", "secret", "config"):
            result = self.ctl(kind, "ls", "--format", "json")
            if result is None:
                continue
            names = {row.get("name") or (row.get("spec") or {}).get("name")
                     for row in json.loads(result.stdout or "[]")}  # fmt: skip
            missing = sorted(self.expected[kind] - names)
            back = sorted(self.gone[kind] & names)
            if missing or back:
                self.lost.append({"at_s": self.now(), "kind": kind, "missing": missing,
                                  "still_there_after_rm": back})  # fmt: skip

    def sample(self) -> None:
        entry: dict[str, Any] = {"at_s": self.now(), "nodes": {}}
        for node in self.swarm.nodes:
            pid = node.process.pid if node.process is not None else 0
            proc = process_sample(pid) or {}
            row: dict[str, Any] = {"pid": pid, **proc, **state_dir_sizes(node.state_dir)}
            port = self.metrics_ports.get(node.name)
            if node.name.startswith("m") and port:
                with contextlib.suppress(OSError):
                    url = f"http://127.0.0.1:{port}/metrics"
                    with urllib.request.urlopen(url, timeout=10) as reply:
                        row.update(store_counts(reply.read().decode()))
            entry["nodes"][node.name] = row
        try:
            entry["cluster"] = self.leader_tasks()
        except Exception as exc:  # a leader change in between: the next sample has it
            entry["cluster"] = {"error": f"{type(exc).__name__}: {exc}"}
        self.samples.append(entry)
        self.check_writes()

    # -- the end --------------------------------------------------------------------------
    def converged(self) -> dict[str, Any]:
        """Once the churn stops: every service's running tasks match its replicas on
        live nodes, and no task is left between states."""
        self.close_readers()
        self.ctl("node", "activate", DRAINED_WORKER)
        last: dict[str, Any] = {}

        def settled() -> bool:
            with Client(f"ipc://{self.node('m1').socket.absolute()}", timeout=20) as client:
                services = client.request("control.service.ls", {})["services"]
                rows = client.request("control.task.ls", {})["tasks"]
            last.clear()
            for service in services:
                name = service.get("name") or service["spec"]["name"]
                if name == CRASHER or "-j" in name:
                    continue  # always restarting / completing: never "converged"
                mine = [t for t in rows if t.get("service_id") == service["id"]]
                running = sum(
                    1 for t in mine if t["state"] == "running" and t["desired_state"] == "running"
                )
                between = [
                    t["id"]
                    for t in mine
                    if t["desired_state"] == "shutdown" and t["state"] in STILL_UP
                ]
                want = service.get("replicas_desired")
                if want is None or running != want or between:
                    last[name] = {"running": running, "want": want, "shutting_down": between}
            return not last

        started = time.monotonic()
        try:
            poll(settled, "every service converged", CONVERGE_TIMEOUT_S, interval=1.0)
        except AssertionError:
            return {"converged": False, "unconverged": last}
        return {"converged": True, "after_s": round(time.monotonic() - started, 1)}


def trends(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """Per node and metric: the trend over its current process's life (over every sample
    for the state dir and store counts, which outlive a restart)."""
    out: dict[str, Any] = {}
    names = sorted({name for s in samples for name in s["nodes"]})
    for name in names:
        rows = [(s["at_s"], s["nodes"][name]) for s in samples if name in s["nodes"]]
        last_pid = rows[-1][1].get("pid")
        metrics = sorted({k for _, r in rows for k in r if k != "pid"})
        out[name] = {}
        for metric in metrics:
            per_life = metric in ("rss_kib", "fds", "threads")
            points = [
                (t, float(r[metric]))
                for t, r in rows
                if metric in r and (not per_life or r.get("pid") == last_pid)
            ]
            out[name][metric] = trend(points, warmup_s)
    cluster = [(s["at_s"], s.get("cluster") or {}) for s in samples]
    out["cluster"] = {
        metric: trend([(t, float(c[metric])) for t, c in cluster if metric in c], warmup_s)
        for metric in ("tasks", "max_tasks_per_slot")
    }
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=900.0, help="seconds of churn")
    parser.add_argument("--sample-every", type=float, default=20.0)
    parser.add_argument("--restart-every", type=float, default=240.0, help="m3 SIGTERM+start")
    parser.add_argument("--kill-every", type=float, default=300.0, help="w2 kill -9+start")
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds before fitting")
    parser.add_argument(
        "--snapshot-interval",
        type=int,
        help="Raft entries between snapshots (cluster update; default: the cluster's 10000)",
    )
    parser.add_argument("--keep-logs", help="copy the nodes' logs and the samples here")
    parser.add_argument("--smoke", action="store_true", help="one round, seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="swarmnode-bench-soak-"))
    use_bytecode_cache(workdir / "pycache")
    soak = Soak(workdir)
    errors: list[str] = []
    rounds = 0
    end: dict[str, Any] = {}
    try:
        log(f"starting {len(MANAGERS)} managers + {len(WORKERS)} workers")
        soak.start()
        log(f"cluster formed at {soak.now()} s")
        if args.snapshot_interval:
            soak.ctl("cluster", "update", "--snapshot-interval", str(args.snapshot_interval))
        soak.setup_services()
        soak.sample()
        if args.smoke:
            soak.round(0)
            soak.kill_worker()
            soak.restart_manager()
            soak.sample()
            soak.round(1)
        else:
            deadline = time.monotonic() + args.duration
            next_sample = time.monotonic() + args.sample_every
            next_restart = time.monotonic() + args.restart_every
            next_kill = time.monotonic() + args.kill_every
            while time.monotonic() < deadline:
                soak.round(rounds)
                rounds += 1
                now = time.monotonic()
                if now >= next_restart:
                    log(f"restarting {RESTARTED_MANAGER} at {soak.now()} s")
                    soak.restart_manager()
                    next_restart = now + args.restart_every
                if now >= next_kill:
                    log(f"kill -9 of {KILLED_WORKER} at {soak.now()} s")
                    soak.kill_worker()
                    next_kill = now + args.kill_every
                if now >= next_sample:
                    soak.sample()
                    next_sample = now + args.sample_every
        end = soak.converged()
        soak.sample()
    except KeyboardInterrupt as exc:
        errors.append(f"interrupted: {exc or 'Ctrl-C'}")
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        log(errors[-1])
    finally:
        soak.close_readers()
        if args.keep_logs:
            with contextlib.suppress(OSError):
                keep = Path(args.keep_logs)
                keep.mkdir(parents=True, exist_ok=True)
                for path in workdir.glob("*.log"):
                    shutil.copy(path, keep)
                (keep / "samples.json").write_text(json.dumps(soak.samples, indent=1))
        soak.swarm.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "bench": "soak",
        "setup": {
            "managers": len(MANAGERS),
            "workers": len(WORKERS),
            "executor": "process",
            "duration_s": 0 if args.smoke else args.duration,
            "sample_every_s": args.sample_every,
            "warmup_s": args.warmup,
            "snapshot_interval": args.snapshot_interval,
            "restarted": {RESTARTED_MANAGER: "SIGTERM+start", KILLED_WORKER: "kill -9+start"},
            "machine": machine(),
        },
        "rounds": rounds if not args.smoke else 2,
        "elapsed_s": soak.now(),
        "trends": trends(soak.samples, 0.0 if args.smoke else args.warmup),
        "calls": dict(soak.calls),
        "failure_counts": dict(soak.failure_counts),
        "failures": soak.failures,
        "reader_lines": soak.reader_lines,
        "restarts": soak.restarts,
        "lost_writes": soak.lost,
        "end": end,
        "errors": errors,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
