"""The routing mesh at scale: what a large ingress service costs the leader, and the bytes
each change of its table puts on the wire, at up to 1,000 nodes.

    python bench/mesh_scale.py [--nodes 1000] [--replicas 1000] [--steps 10]
                               [--managers 3] [--smoke]

A fresh cluster as bench/scale.py's (bench/_scale.py): real ``swarm-node`` managers
(drained) and a fleet of ``--nodes`` simulated workers, each with its own dispatcher
session. The simulated engine publishes each task's ports on ports of its own
(actors/worker/executors/sim.py), so a service's tasks are the table's backends, all at
the fleet's address (the table sends each as [address, port]: its size does not depend
on how many addresses there are). Then, for a plain service and for one of the same
replicas publishing an ingress port (``-p 8080:80``), one after the other:

1. **create**: ``--replicas`` replicas, until the store counts them running; the leader's
   CPU seconds (user + system) meanwhile;
2. **steps**: ``--steps`` scale steps of one replica up, each waited for until it runs
   (for the ingress service, each is a change of a table of ``--replicas`` backends); the
   leader's CPU seconds per step.

The ingress phases also read the leader's ``dispatcher.ingress.changed`` events: how many
table changes, the sessions each went to, the bytes of the changes sent (the frame's
``mesh`` field, msgpack, summed over sessions; a frame's envelope adds ~100 bytes, CURVE
~40), the full tables among them (a session's first frame), and the dispatcher thread's
CPU computing the table and sending it. The difference of the leader's CPU between the
two services is the mesh's share. The earlier version sent every session the whole table,
at most 256 backends a port, at each change: ``whole_table_bytes`` is that field for this
table, per session and per change, for comparison.

Correctness is checked (every replica running; the table's last version holds every
task as a backend), never timed. ``--smoke``: 3 nodes, 300 replicas (past the earlier 256
backends a port), 2 steps, 1 manager. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before bench/ (the script's dir): bench/transport.py
sys.path.append(str(ROOT / "bench"))  # would shadow the transport package

from _common import machine, stop_on_sigterm  # noqa: E402
from _scale import POLL_S, ScaleCluster, service_spec  # noqa: E402

from actors.dispatcher.ingress import LEGACY_MAX_BACKENDS  # noqa: E402
from tests.support.swarm import poll  # noqa: E402

PORT = 8080
CHANGED = "dispatcher.ingress.changed"


def log(message: str) -> None:
    print(f"[mesh-scale] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def ingress_spec(name: str, replicas: int) -> dict[str, Any]:
    doc = service_spec(name, replicas)
    doc["endpoint"] = {
        "ports": [{"target_port": 80, "published_port": PORT, "publish_mode": "ingress"}]
    }
    return doc


def leader_cpu(cluster: ScaleCluster) -> float:
    return cluster.cpu_seconds()[cluster.leader().name]


def table_events(cluster: ScaleCluster) -> list[dict[str, Any]]:
    return [e for e in cluster.leader().log_events() if e.get("event") == CHANGED]


def wait_running(cluster: ScaleCluster, name: str, replicas: int, timeout: float) -> None:
    poll(
        lambda: cluster.running_of(name) >= replicas, f"{name}: {replicas} running", timeout, POLL_S
    )


def wait_table(cluster: ScaleCluster, backends: int, timeout: float) -> None:
    """Until the leader has sent the table change that holds ``backends`` backends (a
    version before this one sent at most 256 a port, and logged that)."""
    wanted = {backends, min(backends, LEGACY_MAX_BACKENDS)}

    def sent() -> bool:
        events = table_events(cluster)
        return bool(events) and events[-1].get("backends") in wanted

    poll(sent, f"the mesh table with {backends} backends sent", timeout, POLL_S)


def run_service(
    cluster: ScaleCluster, name: str, replicas: int, steps: int, ingress: bool, timeout: float
) -> dict[str, Any]:
    spec = ingress_spec(name, replicas) if ingress else service_spec(name, replicas)
    events_before = len(table_events(cluster))
    cpu = leader_cpu(cluster)
    load_before = load()
    started = time.monotonic()
    cluster.write("control.service.create", {"spec": spec})
    wait_running(cluster, name, replicas, timeout)
    created_s = time.monotonic() - started
    create_cpu = leader_cpu(cluster) - cpu
    if ingress:  # the ramp's last table change is sent (at most every 0.25 s)
        wait_table(cluster, replicas, timeout)
    events_created = len(table_events(cluster))
    cpu = leader_cpu(cluster)
    for step in range(1, steps + 1):
        cluster.write("control.service.scale", {"service": name, "replicas": replicas + step})
        wait_running(cluster, name, replicas + step, timeout)
    if ingress:
        wait_table(cluster, replicas + steps, timeout)
    steps_cpu = leader_cpu(cluster) - cpu
    out: dict[str, Any] = {
        "create_s": round(created_s, 2),
        "leader_cpu_create_s": round(create_cpu, 2),
        "leader_cpu_per_step_s": round(steps_cpu / steps, 4) if steps else None,
        "load_average": {"before": load_before, "after": load()},
    }
    if ingress:
        events = table_events(cluster)
        out["table"] = {
            "create": changes(
                events[events_before - 1 if events_before else 0 : events_created],
                events_before == 0,
            ),
            "steps": changes(events[events_created - 1 : len(events)], False),
            "backends_at_end": events[-1].get("backends", 0) if events else 0,
        }
    return out


def changes(events: list[dict[str, Any]], from_zero: bool) -> dict[str, Any]:
    """Figures of the table changes in ``events`` (the first one is the mark before, unless
    ``from_zero``)."""
    if not events:
        return {"changes": 0}
    # (a version before these fields logged none: its figures come out 0)
    start = {} if from_zero else events[0]
    counted = events if from_zero else events[1:]
    if not counted:
        return {"changes": 0}
    last = counted[-1]
    sent = last.get("sent_changes", 0) - start.get("sent_changes", 0)
    sent_bytes = last.get("sent_bytes", 0) - start.get("sent_bytes", 0)
    n = len(counted)
    return {
        "changes": n,
        "sessions_per_change": round(sum(e.get("sessions", 0) for e in counted) / n, 1),
        "changes_sent": sent,
        "full_tables_sent": last.get("sent_full", 0) - start.get("sent_full", 0),
        "bytes_sent": sent_bytes,
        "bytes_per_change": round(sent_bytes / n),
        "bytes_per_session_per_change": round(sent_bytes / sent) if sent else None,
        "dispatcher_cpu_per_change_s": {
            "compute": round(sum(e.get("compute_cpu_s", 0) for e in counted) / n, 6),
            "send": round(sum(e.get("send_cpu_s", 0) for e in counted) / n, 6),
        },
    }


def whole_table_bytes(backends: int) -> int:
    """One ``ingress`` field of the earlier version for a port of ``backends`` backends at
    the fleet's address (cut to the 256 it sent)."""
    entry: dict[str, Any] = {"port": PORT, "protocol": "tcp", "service": "mesh-ingress"}
    entry["backends"] = [
        ["127.0.0.1", 20000 + i] for i in range(min(backends, LEGACY_MAX_BACKENDS))
    ]
    return len(msgpack.packb([entry]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--smoke", action="store_true", help="3 nodes, 300 replicas, 2 steps")
    args = parser.parse_args(argv)
    if args.smoke:
        args.nodes, args.replicas, args.steps, args.managers = 3, 300, 2, 1
    stop_on_sigterm()
    result: dict[str, Any] = {
        "bench": "mesh_scale",
        "nodes": args.nodes,
        "replicas": args.replicas,
        "steps": args.steps,
        "managers": args.managers,
        "machine": machine(),
    }
    ok = False
    with tempfile.TemporaryDirectory(prefix="sn-mesh-scale-") as tmp:
        cluster = ScaleCluster(Path(tmp), managers=args.managers, nodes=args.nodes, log=log)
        try:
            log(f"starting {args.managers} managers and {args.nodes} fleet nodes")
            result["setup"] = cluster.start()
            log("plain service")
            plain = run_service(
                cluster, "mesh-plain", args.replicas, args.steps, False, args.timeout
            )
            log("ingress service")
            mesh = run_service(
                cluster, "mesh-ingress", args.replicas, args.steps, True, args.timeout
            )
            result["plain"], result["ingress"] = plain, mesh
            result["mesh_share"] = {
                "leader_cpu_create_s": round(
                    mesh["leader_cpu_create_s"] - plain["leader_cpu_create_s"], 2
                ),
                "leader_cpu_per_step_s": round(
                    (mesh["leader_cpu_per_step_s"] or 0) - (plain["leader_cpu_per_step_s"] or 0), 4
                ),
            }
            backends = args.replicas + args.steps
            result["whole_table_bytes"] = {
                "per_session": whole_table_bytes(backends),
                "per_change": whole_table_bytes(backends) * args.nodes,
            }
            result["checks"] = {
                "every_task_a_backend": mesh["table"]["backends_at_end"] == backends,
            }
            ok = all(result["checks"].values())
        finally:
            cluster.close()
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
