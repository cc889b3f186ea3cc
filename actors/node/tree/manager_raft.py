"""A manager's other parts reaching Raft: always through the `RaftHolder`, which holds
whichever RaftNode the raft child runs now (a restart of the child builds a new one).

Rules:
- Nothing keeps a RaftNode: every call reads ``holder.node`` afresh, and a missing node
  (the raft child starting or restarting) is an answer, never a crash: the remote
  endpoint's Raft calls are refused ``unavailable``, the control API's membership calls
  get ``UNAVAILABLE`` with a reason to retry, a metrics scrape skips Raft.
- `raft_handlers` serves ``RAFT_HANDLERS`` by delegating to the running node's own
  handlers; a batch of requests runs the node's handed-in work once (``inline``'s
  ``after``), not after every request.
- `raft_view` asks the node's loop for its membership for at most `RAFT_VIEW_TIMEOUT`
  seconds; a metrics scrape waits at most `RAFT_STATUS_TIMEOUT`.
- `snapshot_interval` reads the cluster's setting at every check, so ``cluster update
  --snapshot-interval`` takes effect on every manager once applied.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from actors.control.errors import ControlCode, ControlError
from actors.control.raft_members import RaftView, raft_view_of
from actors.control.readiness import StartupState
from actors.node.tree.leader_group import RaftHolder
from actors.proposal_errors import ProposalDropped
from actors.raft_node.actor import RaftStatus
from actors.store import MemoryStore, clusters
from api.specs import RaftConfig
from transport.endpoint import Handler, Request, inline

__all__ = [
    "RAFT_HANDLERS",
    "RAFT_STATUS_TIMEOUT",
    "RAFT_VIEW_TIMEOUT",
    "leader_id",
    "raft_handlers",
    "raft_status",
    "raft_view",
    "snapshot_interval",
    "startup_state",
]

# every handler of the RaftNode's own table (actors/raft_node/handlers.py): a type left
# out is answered ``unsupported`` (raft.chunk was: no snapshot over a frame got through)
RAFT_HANDLERS: Final = ("raft.messages", "raft.chunk", "raft.propose", "raft.status")
RAFT_VIEW_TIMEOUT: Final = 2.0  # seconds a control call waits for Raft's membership
RAFT_STATUS_TIMEOUT: Final = 2.0  # seconds a metrics scrape waits for Raft's status


def raft_handlers(holder: RaftHolder) -> dict[str, Handler]:
    """Raft's entries for the remote endpoint, bound to whichever RaftNode runs now."""

    def after() -> float | None:  # one for every name: a batch runs it once (inline)
        node = holder.node
        return node.run_handed_in() if node is not None else None

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
                handler = node.handlers()[name]
                # the node's inline handler's own function: its ``after`` runs once per
                # batch (below), not after every request
                handler = cache[id(node)] = getattr(handler, "fn", handler)
            return handler(request)

        return inline(handle, after=after)

    return {name: delegate(name) for name in RAFT_HANDLERS}


def raft_view(holder: RaftHolder) -> RaftView:
    """Raft's membership as this manager's member sees it now, asked of its loop (which
    answers between two rounds) for at most `RAFT_VIEW_TIMEOUT` seconds."""
    node = holder.node
    if node is None:
        raise ControlError(ControlCode.UNAVAILABLE, "this manager's Raft member is not running")
    try:
        return raft_view_of(node.status(RAFT_VIEW_TIMEOUT))
    except TimeoutError:
        raise ControlError(
            ControlCode.UNAVAILABLE,
            f"this manager's Raft member did not say its members within "
            f"{RAFT_VIEW_TIMEOUT:g}s; retry",
        ) from None
    except ProposalDropped:  # the member stopped meanwhile (a restart)
        raise ControlError(
            ControlCode.UNAVAILABLE, "this manager's Raft member stopped; retry"
        ) from None


def raft_status(holder: RaftHolder) -> RaftStatus | None:
    """Raft's status for a metrics scrape; None when there is none to give."""
    node = holder.node
    if node is None:
        return None
    try:
        return node.status(timeout=RAFT_STATUS_TIMEOUT)
    except Exception:  # stopping, or a loop too busy to answer: skip this scrape
        return None


def leader_id(holder: RaftHolder) -> int:
    """The leader's Raft id as the running member knows it (0: none known)."""
    node = holder.node
    return node.leader_id if node is not None else 0


def startup_state(holder: RaftHolder, store: MemoryStore) -> StartupState:
    """What the control API's readiness gate judges (actors/control/readiness.py)."""
    node = holder.node
    return StartupState(
        raft_running=node is not None,
        leader_id=node.leader_id if node is not None else 0,
        has_cluster=store.view(clusters.get_default) is not None,
        leaderless_for=node.leaderless_seconds if node is not None else 0.0,
    )


def snapshot_interval(store: MemoryStore) -> Callable[[], int]:
    """The cluster's ``raft.snapshot_interval`` as the Raft loop reads it at every check
    (SwarmKit's getCurrentRaftConfig), so ``cluster update --snapshot-interval`` takes
    effect on every manager once applied; the default before a cluster object exists."""
    default = RaftConfig().snapshot_interval

    def current() -> int:
        cluster = store.view(clusters.get_default)
        return cluster.spec.raft.snapshot_interval if cluster is not None else default

    return current
