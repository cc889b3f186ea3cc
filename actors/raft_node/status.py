"""What `RaftNode.status()` answers: the core's status with the shell's view of its peers
(addresses, when each was last heard from, whether that is within an election timeout)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from actors.raft_node.progress import ProgressState
from actors.raft_node.ready import Status
from actors.raft_node.types import RaftState

__all__ = ["PeerInfo", "RaftStatus", "raft_status"]


@dataclass(frozen=True, slots=True)
class PeerInfo:
    id: int
    addr: str
    reachable: bool  # heard from within an election timeout
    last_heard: float | None  # seconds ago; None: never
    match: int | None = None  # leader only
    next: int | None = None
    progress: ProgressState | None = None


@dataclass(frozen=True, slots=True)
class RaftStatus:
    node_id: int
    state: RaftState
    term: int
    leader_id: int
    is_leader: bool
    commit: int
    applied: int
    last_index: int
    snapshot_index: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    peers: dict[int, PeerInfo] = field(default_factory=dict)


def raft_status(
    st: Status,
    *,
    now: float,
    last_heard: Mapping[int, float],
    addr: Callable[[int], str],
    election_seconds: float,
    snapshot_index: int,
) -> RaftStatus:
    peers = {}
    for pid in (*st.conf_state.voters, *st.conf_state.learners):
        if pid == st.id:
            continue
        heard = last_heard.get(pid)
        ago = None if heard is None else now - heard
        pr = st.progress.get(pid)
        peers[pid] = PeerInfo(
            id=pid,
            addr=addr(pid),
            reachable=ago is not None and ago < election_seconds,
            last_heard=ago,
            match=pr.match if pr else None,
            next=pr.next if pr else None,
            progress=pr.state if pr else None,
        )
    return RaftStatus(
        node_id=st.id,
        state=st.state,
        term=st.term,
        leader_id=st.leader_id,
        is_leader=st.state is RaftState.LEADER,
        commit=st.commit,
        applied=st.applied,
        last_index=st.last_index,
        snapshot_index=snapshot_index,
        voters=st.conf_state.voters,
        learners=st.conf_state.learners,
        peers=peers,
    )
