"""``swarm-node --force-new-cluster``: make this manager the only member of its Raft group.

Rules (as etcd's force-new-cluster, which SwarmKit uses for the same flag):
- Only committed entries are kept: an uncommitted suffix of the log may never have been
  agreed on, so it is dropped.
- The configuration at the commit index is computed from the stored one (snapshot or
  bootstrap) plus the configuration changes committed after it. Configuration changes are
  appended that remove every other member (and promote this one, if it was a learner),
  in the current term, and the commit index is moved past them: on restart the Raft core
  replays them, so the group is {self} and this node elects itself at once.
- The store's state is untouched (services, nodes, the cluster object, its keys): the
  appended entries are configuration entries, which the store ignores. New managers can
  join the one-member group as usual.

`plan_force_new_cluster` is the pure decision; `force_new_cluster` carries it out on a
state dir's storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.log import get_logger
from actors.raft_node.ready import apply_conf_change, decode_conf_change, encode_conf_change
from actors.raft_node.storage import Cipher, DurableStorage
from actors.raft_node.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
)

__all__ = ["ForceNewCluster", "force_new_cluster", "plan_force_new_cluster"]

_log = get_logger("raft")


@dataclass(frozen=True)
class ForceNewCluster:
    """What to write: ``entries`` (replacing the log from ``entries[0].index``) and the
    new hard state; ``removed`` lists the members dropped."""

    entries: tuple[Entry, ...]
    hard_state: HardState
    before: ConfState
    removed: tuple[int, ...]

    @property
    def needed(self) -> bool:
        return bool(self.entries)


def plan_force_new_cluster(
    raft_id: int, hard_state: HardState, conf_at_commit: ConfState, commit: int
) -> ForceNewCluster:
    """The entries that leave ``raft_id`` the only voter, appended after ``commit``."""
    changes: list[ConfChange] = []
    conf = conf_at_commit
    if raft_id not in conf.voters:
        changes.append(ConfChange(ConfChangeType.PROMOTE, raft_id))
    others = sorted({*conf.voters, *conf.learners} - {raft_id})
    changes += [ConfChange(ConfChangeType.REMOVE, member) for member in others]
    term = hard_state.term
    entries = tuple(
        Entry(commit + 1 + i, term, encode_conf_change(change), EntryType.CONF_CHANGE)
        for i, change in enumerate(changes)
    )
    for change in changes:
        conf = apply_conf_change(conf, change)
    assert not changes or conf == ConfState(voters=(raft_id,))
    new_commit = commit + len(entries)
    return ForceNewCluster(
        entries,
        HardState(term=term, vote=hard_state.vote, commit=new_commit),
        conf_at_commit,
        tuple(others),
    )


def committed_conf(storage: Any) -> tuple[HardState, ConfState, int]:
    """The hard state, the configuration at the commit index, and the commit index."""
    hard_state, conf = storage.initial_state()
    commit = max(min(hard_state.commit, storage.last_index()), storage.snapshot().metadata.index)
    first = storage.first_index()
    if commit >= first:
        for entry in storage.entries(first, commit + 1):
            if entry.type is EntryType.CONF_CHANGE:
                conf = apply_conf_change(conf, decode_conf_change(entry.data))
    return hard_state, conf, commit


def force_new_cluster(raft_dir: Path, raft_id: int, *, cipher: Cipher | None) -> ForceNewCluster:
    """Rewrite the Raft storage in ``raft_dir`` so ``raft_id`` is its only member."""
    with DurableStorage.open(raft_dir, cipher=cipher) as storage:
        hard_state, conf, commit = committed_conf(storage)
        plan = plan_force_new_cluster(raft_id, hard_state, conf, commit)
        dropped = storage.last_index() - commit
        if plan.needed:
            # save() replaces the stored suffix from entries[0].index: the uncommitted
            # tail goes with it
            storage.save(plan.hard_state, list(plan.entries))
            # their frames get raft.removed even once the log is compacted: two of them
            # started again with their old state would otherwise form a group of their own
            storage.add_removed_members(plan.removed)
        elif dropped and commit >= storage.first_index():
            storage.save(None, storage.entries(commit, commit + 1))  # cut the tail
        _log.warning(
            "raft.force_new_cluster",
            raft_id=raft_id,
            voters_before=list(conf.voters),
            learners_before=list(conf.learners),
            removed=list(plan.removed),
            commit=plan.hard_state.commit,
            uncommitted_dropped=dropped,
        )
        return plan
