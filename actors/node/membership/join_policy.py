"""Who may take a ``raft.join`` now, whom a manager names otherwise, and whom a removed
manager asks first: the pure decisions of join.py's handler and joiner.

Rules:
- Only a leader that can commit adds a member (`join_refusal`; a member asking again needs
  no change). One told it was removed
  from the group (``raft.removed``) commits nothing; nor does one without a quorum of live
  voters: itself and the voters heard from within an election timeout, not counting the
  joining node's own old member (a node that asks under a new Raft id has dropped the
  state its old member ran on). After ``--force-new-cluster`` elsewhere, the old managers
  come back as a group of their own; the leader of that group would otherwise accept a
  rejoining member's ``raft.join`` and hold it until its proposal timed out, as it never
  commits. It refuses at once (``unavailable``, with the reason) and the joiner asks the
  next manager. (SwarmKit's ``raft.Join`` likewise answers only as the leader, and refuses
  a node that already has a member.)
- A manager that is not the leader names the leader it knows (`leader_to_name`), unless it
  was removed from the group (that leader leads the old group), or the leader is the
  joining node's old member: that is the joiner itself, which leads nothing any more.
- A manager told it was removed asks the member that told it first (`remover_first`): that
  member is in the group it is to join.
- A manager told it was removed whose own Node is being demoted (desired role worker, in
  its store) does not rejoin (`removal_is_demotion`): the leader took it out of Raft for
  the demotion, and its worker certificate restarts it as a worker. (The notice can come
  before it applies its own removal; rejoining then was refused as a worker's for good.)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from api.enums import NodeRole
from api.objects import Node
from api.roles import quorum

__all__ = [
    "LeaderView",
    "join_refusal",
    "leader_to_name",
    "removal_is_demotion",
    "remover_first",
]


@dataclass(frozen=True, slots=True)
class LeaderView:
    """What a leader knows of its group when a node asks to join."""

    node_id: int
    voters: tuple[int, ...]
    reachable: frozenset[int]  # members heard from within an election timeout
    removed_by: int | None = None  # the member that said this one was removed
    learners: tuple[int, ...] = ()


def join_refusal(view: LeaderView, raft_id: int, joiner_members: Collection[int]) -> str | None:
    """Why the leader ``view`` describes cannot add member ``raft_id`` now (None: it can,
    or it is a member already, as asking again commits nothing). ``joiner_members``: the
    Raft ids the joining node held before (its old members)."""
    if view.removed_by is not None:
        return (
            f"this manager was removed from the Raft group (member {view.removed_by} said "
            "so): it commits nothing; ask a manager of the current group"
        )
    if raft_id in view.voters or raft_id in view.learners:
        return None
    needed = quorum(len(view.voters))
    live = [
        v
        for v in view.voters
        if v not in joiner_members and (v == view.node_id or v in view.reachable)
    ]
    if len(live) >= needed:
        return None
    gone = sorted(v for v in view.voters if v in joiner_members)
    detail = f" (member {', '.join(map(str, gone))} was the joining node's own)" if gone else ""
    return (
        f"this leader cannot commit the change: {len(live)} of its {len(view.voters)} "
        f"voters are live, a quorum is {needed}{detail}"
    )


def leader_to_name(
    leader_id: int, *, removed_by: int | None, joiner_members: Collection[int]
) -> int:
    """The leader a manager that is not the leader names to a joining node (0: none)."""
    if removed_by is not None or leader_id in joiner_members:
        return 0
    return leader_id


def remover_first(
    entries: Sequence[Mapping[str, str]], by: int, *, own_key: str
) -> list[dict[str, str]]:
    """``entries`` (manager entries with Raft ids, see actors/node/tree/managers.py)
    without this node's own (``own_key``), the member ``by`` first; the rest keep their
    order."""
    others = [dict(m) for m in entries if m.get("server_key") != own_key]
    first = [m for m in others if m.get("raft_id") == str(by)]
    return first + [m for m in others if m.get("raft_id") != str(by)]


def removal_is_demotion(own: Node | None) -> bool:
    """Whether this manager's removal from Raft is its demotion (``own``: its Node in its
    store; None: not there yet, so not known to be demoted)."""
    return own is not None and own.spec.desired_role is NodeRole.WORKER
