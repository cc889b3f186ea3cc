"""Role changes that keep the Raft group safe (pure: no store, no Raft, no clock).

`check_demotion` is what the control API asks before it records a demotion (SwarmKit's
rules): the last manager cannot be demoted, and a change that would leave fewer reachable
voters than the new group's quorum is refused (the group could not commit the change, or
anything after it). The leader-side reconciler (actors/node_membership.py) then turns the
recorded ``desired_role`` into Raft membership one change at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ManagerView", "check_demotion", "quorum"]


@dataclass(frozen=True, slots=True)
class ManagerView:
    node_id: str
    reachable: bool  # as the leader last saw it (its own node is reachable)


def quorum(voters: int) -> int:
    return voters // 2 + 1


def check_demotion(managers: Iterable[ManagerView], node_id: str) -> str | None:
    """Why demoting ``node_id`` is refused (None: allowed). ``managers``: every node that
    is a manager now (its store role), with its reachability."""
    current = list(managers)
    if not any(m.node_id == node_id for m in current):
        return None  # not a manager: nothing to take out of Raft
    after = [m for m in current if m.node_id != node_id]
    if not after:
        return "attempting to demote the last manager of the swarm"
    reachable = sum(1 for m in after if m.reachable)
    if reachable < quorum(len(after)):
        return (
            f"can't demote node {node_id}: it would result in a loss of quorum "
            f"({reachable} of the remaining {len(after)} managers reachable, "
            f"{quorum(len(after))} needed)"
        )
    return None
