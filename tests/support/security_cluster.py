"""A real cluster and the four identities the security tests call it as.

    cluster = SecurityCluster.start(tmp_path)       # swarm-node processes
    cluster.callers["worker"].keys                  # a joined worker's CURVE key pair

Two managers (so the Raft group keeps a quorum while the test speaks as the second one) and
two workers join by token; then one worker is killed and removed (``node rm --force``).
The callers, each a CURVE key pair read from a state dir or made fresh:

    stranger  a fresh key, no certificate
    worker    the running worker's key (its certificate: worker)
    manager   the follower manager's key (its certificate: manager; a Raft member)
    removed   the removed worker's key (its certificate is revoked)

The server under test is the leader. `served_tables` builds, in this process, the handler
tables a manager and a worker serve (``endpoint_tables`` of real ``ManagerParts`` and
``WorkerParts`` made from a freshly initialised state dir), so a test can check that
every handler has a rule.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from actors.ca.join import hello_address, hello_keypair
from actors.node.config import NodeConfig
from actors.node.leaving import LeaveRefused, LeaveRequest
from actors.node.startup.at_rest import prepare_at_rest
from actors.node.startup.security import prepare_node
from actors.node.tree.manager_parts import ManagerParts
from actors.node.tree.node import NodeParts
from actors.node.tree.parts_setup import PartsSetup
from actors.node.tree.worker_parts import WorkerParts
from api.enums import NodeRole
from api.objects import NodeDescription
from tests.support.swarm import Swarm, SwarmNode, poll
from transport.keys import KeyPair, generate_keypair, read_keypair

__all__ = ["CALLERS", "Caller", "SecurityCluster", "served_tables"]

CALLERS = ("stranger", "worker", "manager", "removed")


@dataclass(frozen=True)
class Caller:
    name: str
    keys: KeyPair
    node_id: str | None = None  # the node its certificate names
    raft_id: int | None = None  # a manager's Raft member id
    addr: str = ""  # where its node listens (host:port)


def node_keys(node: SwarmNode) -> KeyPair:
    return read_keypair(node.state_dir / "keys" / "curve.key")


def raft_id(node: SwarmNode) -> int:
    return int((node.state_dir / "raft_id").read_text().strip())


@dataclass
class SecurityCluster:
    swarm: Swarm
    leader: SwarmNode
    follower: SwarmNode
    worker: SwarmNode
    callers: dict[str, Caller]

    @classmethod
    def start(cls, tmp_path: Path) -> SecurityCluster:
        swarm = Swarm(tmp_path)
        try:
            swarm.start_cluster(managers=2, workers=2)
            leader = poll(swarm.leader, "a leader")
            follower = next(n for n in swarm.nodes[:2] if n is not leader)
            worker, doomed = swarm.nodes[2], swarm.nodes[3]
            doomed.kill()
            doomed_id = doomed.node_id
            leader.ctl_json("node", "rm", "--force", doomed_id)
            poll(
                lambda: doomed_id not in {r["id"] for r in swarm.node_rows()},
                "the removed node gone from node ls",
            )
            callers = {
                "stranger": Caller("stranger", generate_keypair()),
                "worker": Caller("worker", node_keys(worker), worker.node_id),
                "manager": Caller(
                    "manager",
                    node_keys(follower),
                    follower.node_id,
                    raft_id(follower),
                    follower.remote_api,
                ),
                "removed": Caller("removed", node_keys(doomed), doomed_id),
            }
        except BaseException:
            swarm.cleanup()
            raise
        return cls(swarm, leader, follower, worker, callers)

    def stop(self) -> None:
        self.swarm.cleanup()

    # -- where the leader listens ----------------------------------------------------------
    @property
    def remote(self) -> tuple[str, bytes]:
        """The leader's remote endpoint and its CURVE server key."""
        return f"tcp://{self.leader.remote_api}", node_keys(self.leader).public

    @property
    def hello(self) -> tuple[str, bytes]:
        """The leader's join-hello endpoint and its published server key."""
        return hello_address(self.leader.remote_api), hello_keypair().public

    def node_ids(self) -> set[str]:
        return {str(r["id"]) for r in self.swarm.node_rows()}

    def log_events(self, node: SwarmNode, name: str) -> list[dict[str, Any]]:
        return [e for e in node.log_events() if e.get("event") == name]


def _never_leaves(_force: bool) -> LeaveRequest:
    raise LeaveRefused("the tables' parts never run")


def served_tables(tmp_path: Path) -> dict[str, dict[str, frozenset[str]]]:
    """``{"manager": {endpoint: handler names}, "worker": {...}}``, from the tables a
    manager's and a worker's node serve."""
    state_dir = tmp_path / "tables-manager"
    startup = prepare_node(state_dir, hostname="tables", advertise_addr="127.0.0.1:1")
    certs = startup.certs
    as_worker = replace(
        startup, certs=replace(certs, info=replace(certs.info, role=NodeRole.WORKER))
    )
    out: dict[str, dict[str, frozenset[str]]] = {}
    for role, start, directory in (
        ("manager", startup, state_dir),
        ("worker", as_worker, tmp_path / "tables-worker"),
    ):
        setup = PartsSetup(
            config=NodeConfig(
                state_dir=directory,
                hostname="tables",
                listen_remote_api="127.0.0.1:1",
                listen_control_api=directory / "control.sock",
                advertise_addr="127.0.0.1:1",
                executor="process",
            ),
            startup=start,
            executor="process",
            description=NodeDescription(hostname="tables"),
            on_role_change=lambda _certs: None,
            on_leave=_never_leaves,
            stopping=threading.Event(),
        )
        parts: NodeParts
        if start.role is NodeRole.MANAGER:
            assert start.keys is not None
            at_rest = prepare_at_rest(directory, start.keys, init=False, force_new_cluster_id=None)
            parts = ManagerParts(setup, at_rest)
        else:
            parts = WorkerParts(setup)
        tables = parts.endpoint_tables()
        out[role] = {name: frozenset(build(cast(Any, None))) for name, build in tables.items()}
    return out
