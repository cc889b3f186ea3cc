"""``swarm leave``'s decisions, as Docker's daemon makes them (moby daemon/cluster/swarm.go
``Leave``), without I/O: whether a leave is refused and with which words, whether a
manager must take itself out of Raft first, and what of a state dir is swarm state.

Rules:
- A locked manager (autolock, waiting for ``swarmctl unlock``) leaves only with
  ``--force`` (`LOCKED`); it cannot leave Raft (its keys are locked away): it removes its
  tasks and wipes its state, and the others see it unreachable until ``node demote`` and
  ``node rm``.
- A worker always leaves (``--force`` changes nothing for it).
- A manager never leaves without ``--force``. The refusal always opens with
  `MANAGER_REFUSAL` and, but for the last manager, ends with `REFUSAL_TAIL`; between them,
  from the manager counts (`ManagerCounts`, Docker's ``managerStats``: the managers the
  store calls reachable or unreachable, and whether this one is among the reachable):
  the last manager's `LAST_MANAGER` (and no tail); a leave that loses the quorum names how
  many managers are left of how many; one that keeps it, or a manager that cannot count
  (it knows no leader), says nothing more. A manager that does not serve yet (still
  starting) says `LOST_CONSENSUS` instead.
- With ``--force`` a manager that is not the group's only member leaves Raft first
  (`leaves_raft`): the remaining managers keep a configuration without it. The last
  member just stops and wipes its state (its cluster ends with it).
- A state dir's swarm state is every entry but the lock, held while the node runs, and
  the sockets the node still answers on until it exits (`swarm_state`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from api.enums import NodeRole, Reachability
from api.objects import Node

__all__ = [
    "LAST_MANAGER",
    "LOCKED",
    "LOST_CONSENSUS",
    "MANAGER_REFUSAL",
    "REFUSAL_TAIL",
    "ManagerCounts",
    "StateEntry",
    "leave_refusal",
    "leaves_raft",
    "manager_counts",
    "swarm_state",
]

LOCKED: Final = (
    "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message."
)
MANAGER_REFUSAL: Final = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
)
LAST_MANAGER: Final = (
    "Removing the last manager erases all current state of the swarm. "
    "Use `--force` to ignore this message. "
)
LOST_CONSENSUS: Final = "Doing so may lose the consensus of your cluster. "
REFUSAL_TAIL: Final = (
    "The only way to restore a swarm that has lost consensus is to reinitialize it with "
    "`--force-new-cluster`. Use `--force` to suppress this message."
)


@dataclass(frozen=True, slots=True)
class ManagerCounts:
    """Docker's ``managerStats``: managers the store calls reachable and unreachable, and
    whether this node is one of the reachable ones."""

    reachable: int
    unreachable: int
    active: bool

    @property
    def loses_quorum(self) -> bool:
        """Docker's ``removingManagerCausesLossOfQuorum``: fewer than a majority of the
        managers would be left reachable."""
        return self.reachable - 2 <= self.unreachable

    @property
    def last_manager(self) -> bool:
        return self.reachable == 1 and self.unreachable == 0


def manager_counts(nodes: Iterable[Node], node_id: str) -> ManagerCounts:
    """The counts from the store's Node objects (a manager's reachability as the leader's
    membership keeper last recorded it)."""
    reachable = unreachable = 0
    active = False
    for node in nodes:
        status = node.manager_status
        if status is None:
            continue
        if status.reachability is Reachability.REACHABLE:
            reachable += 1
            active = active or node.id == node_id
        elif status.reachability is Reachability.UNREACHABLE:
            unreachable += 1
    return ManagerCounts(reachable, unreachable, active)


def leave_refusal(
    role: NodeRole,
    force: bool,
    *,
    locked: bool = False,
    serving: bool = True,
    counts: ManagerCounts | None = None,
) -> str | None:
    """Why this node may not leave (None: it may). A manager's ``serving``: it runs its
    control API (Docker's active manager); ``counts``: None when it cannot count its
    managers (no leader known)."""
    if force:
        return None
    if locked:
        return LOCKED
    if role is not NodeRole.MANAGER:
        return None
    if not serving:
        return MANAGER_REFUSAL + LOST_CONSENSUS + REFUSAL_TAIL
    message = MANAGER_REFUSAL
    if counts is not None and counts.active and counts.loses_quorum:
        if counts.last_manager:
            return message + LAST_MANAGER
        message += (
            f"Removing this node leaves {counts.reachable - 1} managers out of "
            f"{counts.reachable + counts.unreachable}. Without a Raft quorum your swarm will "
            "be inaccessible. "
        )
    return message + REFUSAL_TAIL


def leaves_raft(raft_id: int, voters: Sequence[int], learners: Sequence[int]) -> bool:
    """Whether a leaving manager must take itself out of the Raft group first: only when
    the group has members besides it."""
    return any(member != raft_id for member in (*voters, *learners))


@dataclass(frozen=True, slots=True)
class StateEntry:
    """One entry of a state dir, as listed for `swarm_state`."""

    name: str
    is_socket: bool = False


def swarm_state(entries: Iterable[StateEntry], lock_name: str) -> list[str]:
    """The names to remove from a state dir when its node leaves, sorted: everything but
    the lock and the live sockets (removed as their endpoints stop)."""
    return sorted(e.name for e in entries if e.name != lock_name and not e.is_socket)
