"""A control endpoint for swarmctl's integration tests: the real transport on an ipc://
socket, the real control handlers, a MemoryStore.local behind them (no Raft, no node).

Run as ``python -m tests.integration.control_server SOCKET``: seeds two nodes and the
default cluster, prints ``ready`` once bound, serves until stdin closes. Tests that need
to move tasks use ``serve_in_thread`` instead and hold the store."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from actors.control import control_handlers
from actors.store import MemoryStore
from api.enums import NodeRole, NodeState, Reachability
from api.objects import (
    Cluster,
    JoinTokens,
    ManagerStatus,
    Node,
    NodeDescription,
    NodeStatus,
    RootCA,
)
from transport.endpoint import Endpoint

MANAGER_ID = "m" * 25
WORKER_ID = "w" * 25


def seeded_store() -> MemoryStore:
    store = MemoryStore.local(clock=time.time)
    objects = [
        Node(
            id=MANAGER_ID,
            description=NodeDescription(hostname="node-1"),
            status=NodeStatus(state=NodeState.READY, addr="127.0.0.1"),
            role=NodeRole.MANAGER,
            manager_status=ManagerStatus(
                raft_id=1, addr="127.0.0.1:4242", leader=True, reachability=Reachability.REACHABLE
            ),
        ),
        Node(
            id=WORKER_ID,
            description=NodeDescription(hostname="node-2"),
            status=NodeStatus(state=NodeState.READY, addr="127.0.0.2"),
        ),
        Cluster(
            id="c" * 25,
            root_ca=RootCA(ca_cert=b"-----BEGIN CERTIFICATE-----\n", ca_key=b"SECRET-KEY"),
            join_tokens=JoinTokens(worker="SWMTKN-1-abc-worker", manager="SWMTKN-1-abc-mgr"),
            unlock_key=b"SWMKEY-1-secret",
        ),
    ]

    def seed(tx: object) -> None:
        for obj in objects:
            tx.create(obj)  # type: ignore[attr-defined]

    store.update(seed)
    return store


def serve(socket: Path, store: MemoryStore) -> Endpoint:
    # a node's control socket answers version too: the manager's (node ls marks it)
    handlers = {
        **control_handlers(store),
        "version": lambda _request: {"node_id": MANAGER_ID, "role": "manager", "version": "test"},
    }
    endpoint = Endpoint(f"ipc://{socket}", handlers, name="control")
    endpoint.start()
    return endpoint


def main() -> None:
    endpoint = serve(Path(sys.argv[1]), seeded_store())
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
