"""``swarmctl cluster leave [-f|--force]``: the node whose control socket this is leaves
the swarm, as ``docker swarm leave`` (actors/node/leaving.py). A worker's socket serves it
too. A manager is refused without ``--force`` in Docker's words; with it, it leaves Raft
first (unless it is the last manager). The node answers once its tasks are removed and
its swarm state is gone, then exits.

It is a verb of ``cluster`` because that noun is swarmctl's ``docker swarm`` (``cluster
join-token``, ``update``, ``unlock-key`` are Docker's ``swarm`` verbs of the same names).
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from cli.connection import ControlConnection
from cli.output import write_json, write_text

__all__ = ["LEAVE_TIMEOUT", "add_leave_verb"]

# a leave waits for the tasks to stop and a manager to leave Raft: longer than a call
LEAVE_TIMEOUT: Final = 120.0


def add_leave_verb(verbs: Any, common: argparse.ArgumentParser) -> None:
    leave = verbs.add_parser(
        "leave",
        parents=[common],
        help="make this node leave the swarm (its tasks and swarm state are removed; it exits)",
    )
    leave.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="force this node to leave the swarm, ignoring warnings (a manager needs it)",
    )
    leave.set_defaults(run=run_leave)


def run_leave(args: argparse.Namespace, connection: ControlConnection, _v: str) -> int:
    waiting = ControlConnection(connection.path, max(connection.timeout, LEAVE_TIMEOUT))
    with waiting:
        reply = waiting.request("control.cluster.leave", {"force": bool(args.force)})
    if args.format == "json":
        write_json({"node_id": reply["node_id"], "removed": reply["removed"]})
    else:
        write_text("Node left the swarm.")
    return 0
