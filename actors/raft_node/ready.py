"""Values the core hands its shell: Ready, Status and the conf-change encoding. The errors
it raises are the whole code base's (`actors.proposal_errors`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from actors.raft_node.progress import ProgressState
from actors.raft_node.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    HardState,
    Message,
    RaftState,
    Snapshot,
)
from api.objects_init import fast_init

__all__ = [
    "PeerStatus",
    "Ready",
    "Status",
    "apply_conf_change",
    "decode_conf_change",
    "encode_conf_change",
]


@fast_init  # one or two for every round (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Ready:
    """Everything the core wants done, in one batch.

    Carry it out with `actors.raft_node.carry_out.carry_out`, which the RaftNode and the
    simulation both run; its rules, in short:
      1. persist with one `storage.save(hard_state, entries, snapshot)` (the snapshot
         replaces the whole log; the entries replace any conflicting suffix) and fsync; a
         leader may send its appends, heartbeats, snapshots and TIMEOUT_NOW before this;
         a Ready that only moves the commit index need not be synced;
      2. if `snapshot` is set, restore the state machine from `snapshot.data`;
      3. send the other `messages` (each to `message.dst`; loss is tolerated);
      4. apply `committed_entries` in order (those an earlier save wrote may be applied
         before this Ready's save; a NORMAL entry with empty data is the leader's
         no-op and carries nothing; a CONF_CHANGE entry's data decodes with
         `decode_conf_change`; the core applies it to its own configuration on `advance`);
      5. call `core.advance(ready)` before asking for the next Ready.
    """

    messages: tuple[Message, ...] = ()
    entries: tuple[Entry, ...] = ()
    hard_state: HardState | None = None
    snapshot: Snapshot | None = None
    committed_entries: tuple[Entry, ...] = ()


@dataclass(frozen=True, slots=True)
class PeerStatus:
    match: int
    next: int
    state: ProgressState
    inflight: int
    recent_active: bool
    ticks_since_heard: int | None  # None: never heard from since this node became leader
    is_learner: bool


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    term: int
    vote: int
    state: RaftState
    leader_id: int
    commit: int
    applied: int
    last_index: int
    conf_state: ConfState
    lead_transferee: int = 0
    progress: dict[int, PeerStatus] = field(default_factory=dict)  # only on the leader


_CC = struct.Struct(">BQ")


def encode_conf_change(change: ConfChange) -> bytes:
    return _CC.pack(int(change.type), change.node_id) + change.context


def decode_conf_change(data: bytes) -> ConfChange:
    kind, node_id = _CC.unpack_from(data)
    return ConfChange(type=ConfChangeType(kind), node_id=node_id, context=bytes(data[_CC.size :]))


def apply_conf_change(conf: ConfState, change: ConfChange) -> ConfState:
    """The configuration after `change`. Each change sets one node's role outright, so
    replaying a suffix of changes over a later configuration gives the same result."""
    voters = [v for v in conf.voters if v != change.node_id]
    learners = [v for v in conf.learners if v != change.node_id]
    if change.type in (ConfChangeType.ADD_LEARNER, ConfChangeType.DEMOTE):
        learners.append(change.node_id)
    elif change.type is ConfChangeType.PROMOTE:
        voters.append(change.node_id)
    return ConfState(voters=tuple(sorted(voters)), learners=tuple(sorted(learners)))
