"""The parts of a manager node that the supervision tree (actors/node.py) wires together.

One ``Assembly`` per node process holds what outlives any one child instance: the store
(rebuilt by Raft from the snapshot and the committed log when the raft child starts), the
current RaftNode, the leadership switch, the dispatcher's slot, the worker's status outbox
and this host's description. It declares the children that are not endpoints:

    raft     RaftNodeActor: opens DurableStorage (STATE_DIR/raft; a one-member group the
             first time), attaches itself to the store as its proposer, subscribes the
             leadership switch
    leader   the leader-only group (actors/leader_group.py), started and stopped by Raft
    worker   Worker (state in STATE_DIR/worker) over the chosen executor
    agent    Agent: a CURVE session to this node's own remote endpoint, like any worker

and the handler tables the endpoints serve; each handler looks its subsystem up per
request (the endpoints copy their tables once, at start).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pykka

from actors.control import control_handlers
from actors.control.unlock import unlock_handlers
from actors.dispatcher import ManagerAddress, dispatcher_handlers
from actors.identity import FILE_MODE, IdentityError, NodeIdentity
from actors.leader_group import (
    ActorSlot,
    LeadershipSwitch,
    RaftHolder,
    Registration,
    leader_child,
)
from actors.log import get_logger
from actors.raft_node.actor import RaftNode, RaftNodeActor
from actors.raft_node.peers import Peer
from actors.raft_node.storage import Cipher, DurableStorage
from actors.raft_node.types import ConfState
from actors.store import MemoryStore
from actors.supervisor import ChildContext, ChildSpec, Directory, start_actor
from actors.worker.agent import Agent, StatusOutbox
from actors.worker.executors import make_executor
from actors.worker.worker import Worker, WorkerSink
from api.objects import NodeDescription
from transport.endpoint import Handler, Request, inline

__all__ = ["RAFT_ID_FILE", "Assembly", "load_or_create_raft_id", "local_address"]

RAFT_ID_FILE = "raft_id"
RAFT_DIR = "raft"
RAFT_HANDLERS = ("raft.messages", "raft.propose", "raft.status")

_log = get_logger("node")


def load_or_create_raft_id(state_dir: Path) -> int:
    """This node's Raft member id: a random 63-bit integer kept in STATE_DIR/raft_id."""
    path = state_dir / RAFT_ID_FILE
    if path.exists():
        text = path.read_text().strip()
        if not text.isdigit() or not 0 < int(text) < 2**63:
            raise IdentityError(f"{path} does not hold a valid Raft id")
        return int(text)
    if (state_dir / RAFT_DIR).exists():
        raise IdentityError(f"{path} is missing but {state_dir / RAFT_DIR} exists")
    raft_id = random.SystemRandom().randrange(1, 2**63)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(f"{raft_id}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return raft_id


def local_address(address: str) -> str:
    """``address`` with a wildcard host replaced by loopback (for this node's own agent)."""
    for wildcard, loopback in (("//0.0.0.0:", "//127.0.0.1:"), ("//[::]:", "//[::1]:")):
        address = address.replace(wildcard, loopback)
    return address


class Assembly:
    def __init__(
        self,
        *,
        state_dir: Path,
        identity: NodeIdentity,
        listen_remote_api: str,
        executor_kind: str,
        description: NodeDescription,
        labels: Mapping[str, str],
        stop_timeout: float = 5.0,
        tick_interval: float = 0.1,
        raft_cipher: Cipher | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.raft_cipher = raft_cipher  # the data key's cipher (actors/node_keys.py)
        self.identity = identity
        self.executor_kind = executor_kind
        self.description = description
        self.stop_timeout = stop_timeout
        self.tick_interval = tick_interval
        self.raft_id = load_or_create_raft_id(state_dir)
        self.raft_addr = listen_remote_api
        self.store = MemoryStore(clock=time.time)
        self.raft = RaftHolder()
        self.switch = LeadershipSwitch()
        self.dispatcher = ActorSlot()
        self.outbox = StatusOutbox()
        self.remote_address = ""  # tcp://host:port once the remote endpoint listens
        self.registration = Registration(
            node_id=identity.node_id,
            raft_id=self.raft_id,
            raft_addr=listen_remote_api,
            description=description,
            labels=dict(labels),
        )

    # -- addresses --------------------------------------------------------------------
    def remote_listening(self, address: str) -> None:
        self.remote_address = address

    def managers(self) -> Sequence[ManagerAddress]:
        if not self.remote_address:
            return ()
        return (ManagerAddress(local_address(self.remote_address), self.identity.keypair.public),)

    def session_addr(self) -> str:
        """The IP this node reports with its session (``node.ip``); none for a wildcard."""
        host = self.raft_addr.rpartition(":")[0].strip("[]")
        return "" if host in ("", "0.0.0.0", "::") else host

    # -- raft -------------------------------------------------------------------------
    def make_raft(self) -> RaftNode:
        """Runs in the raft child's ``on_start``: open the storage, build the node."""
        storage = DurableStorage.open(
            self.state_dir / RAFT_DIR,
            cipher=self.raft_cipher,
            initial_conf_state=ConfState(voters=(self.raft_id,)),
        )
        peer = Peer(self.raft_id, f"tcp://{self.raft_addr}", self.identity.keypair.public)
        try:
            node = RaftNode(
                self.raft_id,
                {self.raft_id: peer},
                storage,
                self.store,
                keypair=self.identity.keypair,
                tick_interval=self.tick_interval,
            )
        except BaseException:
            storage.close()
            raise
        self.store.attach_proposer(node)
        self.raft.node = node
        node.subscribe(self.switch)
        return node

    def raft_child(self) -> ChildSpec:
        return ChildSpec(
            "raft",
            start_actor(RaftNodeActor, self.make_raft),
            start_timeout=60.0,
            stop_timeout=self.stop_timeout,
        )

    def raft_handlers(self) -> dict[str, Handler]:
        """Raft's entries for the remote endpoint, bound to whichever RaftNode runs now."""
        holder = self.raft

        def delegate(name: str) -> Handler:
            cache: dict[int, Handler] = {}

            def handle(request: Request) -> Mapping[str, Any] | None:
                node = holder.node
                if node is None:
                    request.error("unavailable", "raft is not running")
                    return None
                handler = cache.get(id(node))
                if handler is None:
                    cache.clear()
                    handler = cache[id(node)] = node.handlers()[name]
                return handler(request)

            return inline(handle)

        return {name: delegate(name) for name in RAFT_HANDLERS}

    # -- handler tables ---------------------------------------------------------------
    def remote_handlers(self, _peers: Directory) -> dict[str, Handler]:
        return {
            **self.raft_handlers(),
            **dispatcher_handlers(self.dispatcher.find),
        }

    def control_handlers(self, _peers: Directory) -> dict[str, Handler]:
        table = control_handlers(self.store)
        return {**table, **unlock_handlers(self.store, table.get("control.cluster.update"))}

    # -- children ---------------------------------------------------------------------
    def leader_child(self) -> ChildSpec:
        return leader_child(
            self.store,
            self.raft,
            self.registration,
            self.dispatcher,
            self.managers,
            stop_timeout=self.stop_timeout,
        )

    def worker_child(self) -> ChildSpec:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            executor = make_executor(
                self.executor_kind, state_dir=self.state_dir, node_id=self.identity.node_id
            )
            return Worker.start(
                ctx,
                executor=executor,
                state_dir=self.state_dir,
                node_id=self.identity.node_id,
                reporter=self.outbox,
            )

        return ChildSpec("worker", start, stop_timeout=self.stop_timeout * 2)

    def agent_child(self) -> ChildSpec:
        def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
            peers = ctx.peers
            return Agent.start(
                ctx,
                node_id=self.identity.node_id,
                keypair=self.identity.keypair,
                managers=self.managers(),
                sink=WorkerSink(lambda: peers.get("worker")),
                description=self.description,
                statuses=self.outbox,
                addr=self.session_addr(),
            )

        return ChildSpec("agent", start, stop_timeout=self.stop_timeout)
