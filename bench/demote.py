"""Demotion: how long ``swarmctl node demote`` takes to turn a manager into a worker.

    python bench/demote.py [--runs 3] [--target follower|leader] [--heartbeat-period 1s]
                           [--keep DIR] [--smoke]

A 3-manager cluster of real processes (``tests/support/swarm.py``: 127.0.0.1 free ports,
tmp state dirs, joined by token, ``--executor process``). Each run demotes a follower
(``--target leader``: the leader, which hands leadership over first) through another
manager's control socket, and polls every 50 ms, from the moment ``swarmctl node demote``
returned, until it is done:

- ``node ls`` on that manager shows the node with role worker and no manager status;
- the certificate in its state dir (``certificates/node.crt``) names the worker role;
- its log says it began its restart as a worker and then opened a dispatcher session, and
  ``node ls`` shows it READY.

Each run then promotes the node back and waits until three managers are reachable again
(not timed), so the next run starts from the same cluster. The demoted node's log gives
the milestones (seconds after the demote returned): the leader's REMOVE, the role
recorded as worker, each refused renewal, the renewal, the restart, the session.

Prints one JSON document: every run's total and milestones, and their median.
``--smoke``: one run (tests/integration/test_bench_smoke.py keeps the bench working).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.ca.certs import read_node_certificate
from api.enums import NodeRole
from tests.support.swarm import Swarm, SwarmNode, poll

POLL_INTERVAL = 0.05
DEADLINE = 120.0


def _row(node: SwarmNode, node_id: str) -> dict[str, Any] | None:
    for r in node.ctl_json("node", "ls"):
        if r["id"] == node_id:
            return dict(r)
    return None


def _cert_role(node: SwarmNode) -> NodeRole | None:
    try:
        return read_node_certificate(
            (node.state_dir / "certificates" / "node.crt").read_bytes()
        ).role
    except (OSError, ValueError):
        return None


def _seconds(event: dict[str, Any], since: float) -> float:
    stamp = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
    return round(stamp.timestamp() - since, 3)


def _session_after_restart(node: SwarmNode, skip: int) -> bool:
    restarted = False
    for e in node.log_events()[skip:]:
        if e.get("event") == "node.role.restarting" and e.get("role") == "worker":
            restarted = True
        elif restarted and e.get("event") == "agent.session.opened":
            return True
    return False


# the leader's log says these about the demoted node; the demoted node's log says these
_ABOUT_TARGET = ("raft.member.removed", "node.role.changed")
_ON_TARGET = (
    "ca.renewal.failed",
    "ca.renewal.complete",
    "node.role.restarted",
    "agent.session.opened",
)


def _milestones(
    swarm: Swarm, target: SwarmNode, since: float, skip: dict[str, int]
) -> dict[str, Any]:
    """When the logs say each step happened, in seconds after ``since`` (wall clock)."""
    found: dict[str, list[float]] = {}
    for node in swarm.nodes:
        for e in node.log_events()[skip.get(node.name, 0) :]:
            name = str(e.get("event"))
            about = name in _ABOUT_TARGET and e.get("node") == target.node_id
            if about or (name in _ON_TARGET and node is target):
                found.setdefault(name, []).append(_seconds(e, since))
    ordered = sorted(found.items(), key=lambda item: min(item[1]))
    return {name: times if len(times) > 1 else times[0] for name, times in ordered}


def one_run(swarm: Swarm, managers: list[SwarmNode], which: str) -> dict[str, Any]:
    leader = swarm.leader()
    assert leader is not None
    followers = [n for n in managers if n is not leader]
    target = leader if which == "leader" else followers[0]
    asked = followers[-1]  # the manager whose socket takes the demote (not the target)
    target_id = target.node_id
    skip = {n.name: len(n.log_events()) for n in swarm.nodes}
    asked.ctl_json("node", "demote", target_id)
    wall, start = time.time(), time.monotonic()
    marks: dict[str, float] = {}
    seen: dict[str, Any] = {}

    def done() -> bool:
        now = round(time.monotonic() - start, 3)
        r = seen["row"] = _row(asked, target_id) or {}
        if (
            "role_worker" not in marks
            and r.get("role") == "worker"
            and r.get("manager_status") is None
        ):
            marks["role_worker"] = now
        if "cert_worker" not in marks and _cert_role(target) is NodeRole.WORKER:
            marks["cert_worker"] = now
        if (
            "session" not in marks
            and r.get("status") == "ready"
            and _session_after_restart(target, skip[target.name])
        ):
            marks["session"] = now
        return len(marks) == 3

    poll(
        done,
        f"{target.name} a worker with a worker certificate and a session",
        DEADLINE,
        interval=POLL_INTERVAL,
        describe=lambda: (marks, seen.get("row")),
    )
    total = max(marks.values())
    milestones = _milestones(swarm, target, wall, skip)
    # back to three managers for the next run (not timed)
    asked.ctl_json("node", "promote", target_id)

    def three() -> bool:
        mgrs = [r for r in asked.ctl_json("node", "ls") if r["manager_status"]]
        return len(mgrs) == 3 and all(
            r["manager_status"]["reachability"] == "reachable" for r in mgrs
        )

    poll(three, "three reachable managers again", DEADLINE, interval=0.2)
    poll(
        lambda: any(
            e.get("event") == "raft.learner.promoted"
            for n in swarm.nodes
            for e in n.log_events()[skip.get(n.name, 0) :]
        ),
        "the promoted node a voter again",
        DEADLINE,
    )
    return {"node": target.name, "seconds": total, "marks": marks, "log_milestones": milestones}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--heartbeat-period", default=None, help="cluster setting, e.g. 1s")
    parser.add_argument(
        "--target", choices=("follower", "leader"), default="follower", help="whom to demote"
    )
    parser.add_argument("--keep", help="a directory for the nodes' state and logs, kept")
    parser.add_argument("--smoke", action="store_true", help="one run")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 1
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-demote-") as tmp,
        Swarm(Path(args.keep or tmp)) as swarm,
    ):
        managers = swarm.start_cluster(
            managers=3, workers=0, heartbeat_period=args.heartbeat_period
        )
        for _ in range(args.runs):
            runs.append(one_run(swarm, managers, args.target))
    seconds = [r["seconds"] for r in runs]
    print(
        json.dumps(
            {"median_seconds": statistics.median(seconds), "seconds": seconds, "runs": runs},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
