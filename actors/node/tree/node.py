"""One tree of a swarm-node process: a root ``Supervisor`` over the children its parts
declare, in dependency order (stopped in reverse).

A manager's parts (actors/node/tree/manager_parts.py) run:

    root Supervisor
     ├─ metrics, web  the Prometheus endpoint and the web view, when asked for
     ├─ raft      RaftNodeActor: DurableStorage (STATE_DIR/raft) and the Raft loop, which
     │            rebuilds the store (snapshot restore, then the committed entries) and is
     │            the store's proposer
     ├─ remote    TCP ROUTER, CURVE with the node's key pair, ZAP by the CA-backed
     │            admission index, every handler authorized per message type; serves Raft,
     │            the CA (join, renew) and the dispatcher's sessions
     ├─ hello     the join-hello endpoint (remote port + 1, published key: ca.hello only)
     ├─ engine    the Engine API, when asked for (calls the control socket)
     ├─ control   ipc:// ROUTER, socket file mode 0600, control API
     ├─ events    the event streams (stop before the control socket carrying their end)
     ├─ leader    nested Supervisor, autostart=False: bootstrap, orchestrator, task reaper,
     │            scheduler, dispatcher, membership keeper; Raft's leadership subscription
     │            tells this supervisor to start it on winning and stop it on losing
     │            (actors/node/tree/leader_group.py)
     ├─ raftjoin  asks the leader to add this manager to Raft until it is a member
     ├─ keys      the keys at rest follow the Cluster object (autolock, rotation)
     ├─ worker    Worker over the docker or process executor (STATE_DIR/worker)
     ├─ agent     Agent: a CURVE session to a manager's dispatcher (its own first)
     └─ renewer   renews the node's certificate

`Node.start` waits for the tree as long as its children's start timeouts allow
(`start_wait`): a child that does not start fails the start with its own error (a
manager's first Raft join with the join's: actors/node/tree/manager_membership.py), never
with a shorter wait of the node's cutting it short.

Every listening socket is bound before the control socket appears, and `Node.start`
checks them all first (actors/node/startup/listeners.py): a taken port fails the start
with an error naming it and what it is for, before any client is told the node serves.

A worker's parts (actors/node/tree/worker_parts.py) run ``metrics`` and ``engine`` when
asked for, ``control`` (``version``, and every other control request refused with
``not_manager``: swarmctl prints one line), ``worker``, ``agent`` and ``renewer``. A
promotion or demotion stops this tree and starts one of the other role's parts, without
the process exiting (actors/node/runner.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import pykka

from actors.log import get_logger
from actors.node.config import NodeConfig, NodeError
from actors.node.startup.listeners import check_listeners, node_listeners
from actors.node.startup.state_dir import check_control_socket_free
from actors.node.tree.endpoints import HandlerFactory
from actors.supervisor import ChildSpec, Supervisor, start_bound, stop_bound
from api.enums import NodeRole

__all__ = ["START_MARGIN", "STOP_MARGIN", "Node", "NodeParts", "start_wait"]

# beyond its children's start and stop timeouts, for the root supervisor's own steps
START_MARGIN: Final = 5.0
STOP_MARGIN: Final = 5.0

_log = get_logger("node")


class NodeParts(Protocol):
    """What a role's builder gives the tree (`ManagerParts`, `WorkerParts`)."""

    role: NodeRole
    raft_id: int  # 0: no Raft (a worker)

    def children(self) -> list[ChildSpec]:
        """In start order; validates the addresses before anything starts."""
        ...

    def endpoint_tables(self) -> dict[str, HandlerFactory]: ...

    def opening(self) -> None:
        """Before the tree starts."""
        ...

    def attach(self, supervisor: pykka.ActorRef[Any]) -> None:
        """Once the root supervisor runs (before its children are all up)."""
        ...

    def closing(self) -> None:
        """After the tree stopped."""
        ...


def start_wait(children: Sequence[ChildSpec]) -> float:
    """How long `Node.start` waits for a tree of ``children``: as long as their start
    timeouts allow (`start_bound`: the root starts them in turn), and the root's own steps."""
    return start_bound(children) + START_MARGIN


class Node:
    """Builds and runs the supervision tree. ``start()`` returns once every child is up."""

    def __init__(
        self,
        config: NodeConfig,
        parts: NodeParts,
        *,
        on_escalate: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.config = config
        self.parts = parts
        self._on_escalate = on_escalate
        self._start_timeout = START_MARGIN  # until the children are known
        self._failure: BaseException | None = None
        self._failed = threading.Event()
        self._started = False
        self._stop_timeout = config.stop_timeout * 4  # until the children are known
        self.supervisor: pykka.ActorRef[Supervisor] | None = None

    def start(self) -> None:
        children = self.parts.children()  # validates the addresses before anything starts
        self._start_timeout = start_wait(children)
        self._stop_timeout = stop_bound(children) + STOP_MARGIN
        check_control_socket_free(self.config.listen_control_api)
        # every port free, or an error that names the one taken and what it is for (the
        # tree binds them all before its control socket too, so none fails after it)
        check_listeners(node_listeners(self.config, self.parts.role))
        self.parts.opening()
        ref = Supervisor.start(None, children, name="node", on_escalate=self._escalated)
        self.supervisor = ref
        self.parts.attach(ref)
        try:
            ref.proxy().status().get(timeout=self._start_timeout)
        except pykka.ActorDeadError:
            self._failed.wait(timeout=self._start_timeout)
            cause = self._failure
            reason = f"{type(cause).__name__}: {cause}" if cause else "a child stopped starting"
            raise NodeError(reason) from cause
        except pykka.Timeout:
            raise NodeError(f"node did not start within {self._start_timeout:g}s") from None
        self._started = True

    def _escalated(self, error: BaseException) -> None:
        self._failure = error
        self._failed.set()
        if self._on_escalate is not None and self._started:
            self._on_escalate(error)

    def address(self, child: str) -> str:
        if self.supervisor is None:
            raise NodeError("node is not running")
        endpoint = self.supervisor.proxy().get(child).get(timeout=self._start_timeout)
        return str(endpoint.proxy().address().get(timeout=self._start_timeout))

    @property
    def stop_timeout(self) -> float:
        """The longest `stop` waits for the tree (its children's stop bound and a margin,
        once `start` has built them)."""
        return self._stop_timeout

    def stop(self) -> bool:
        """Stop the tree; False if it had not ended within its bound (`stop_bound`: the
        children's stop timeouts, as the root waits for each in turn), its ports perhaps
        still bound. Waiting less would leave the endpoints, stopped last, still open."""
        ref, self.supervisor = self.supervisor, None
        if ref is None:
            return True
        ended = True
        try:
            ref.stop(block=True, timeout=self._stop_timeout)
        except pykka.ActorDeadError:
            pass  # it already stopped itself (an escalation)
        except pykka.Timeout:
            ended = False
            _log.error("node.stop.timeout", timeout=self._stop_timeout)
        self.parts.closing()
        # The socket file is ours (start() checked nobody else answered on it): remove it
        # so a stopped node leaves no socket that looks alive.
        self.config.listen_control_api.unlink(missing_ok=True)
        return ended
