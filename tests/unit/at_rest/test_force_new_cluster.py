"""--force-new-cluster: the plan (pure) and its effect on real storage."""

from __future__ import annotations

import random
from pathlib import Path

from actors.ca.encryption import AESGCMCipher, new_data_key
from actors.node.startup.force_new_cluster import (
    committed_conf,
    force_new_cluster,
    plan_force_new_cluster,
)
from actors.raft_node.core import RaftCore
from actors.raft_node.ready import decode_conf_change, encode_conf_change
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
)


def test_plan_removes_every_other_member_after_the_commit_index() -> None:
    plan = plan_force_new_cluster(
        1, HardState(term=5, vote=2, commit=10), ConfState(voters=(1, 2, 3), learners=(4,)), 10
    )
    changes = [decode_conf_change(e.data) for e in plan.entries]
    assert [(c.type, c.node_id) for c in changes] == [
        (ConfChangeType.REMOVE, 2),
        (ConfChangeType.REMOVE, 3),
        (ConfChangeType.REMOVE, 4),
    ]
    assert [e.index for e in plan.entries] == [11, 12, 13]
    assert all(e.term == 5 and e.type is EntryType.CONF_CHANGE for e in plan.entries)
    assert plan.hard_state == HardState(term=5, vote=2, commit=13)
    assert plan.removed == (2, 3, 4)


def test_plan_promotes_a_learner_and_is_empty_for_a_lone_voter() -> None:
    plan = plan_force_new_cluster(4, HardState(term=2, commit=3), ConfState((1,), (4,)), 3)
    kinds = [decode_conf_change(e.data).type for e in plan.entries]
    assert kinds == [ConfChangeType.PROMOTE, ConfChangeType.REMOVE]
    assert not plan_force_new_cluster(1, HardState(1, 1, 2), ConfState((1,)), 2).needed


def _conf_entry(index: int, term: int, kind: ConfChangeType, member: int) -> Entry:
    return Entry(index, term, encode_conf_change(ConfChange(kind, member)), EntryType.CONF_CHANGE)


def test_storage_rewritten_to_one_member_drops_the_uncommitted_tail(tmp_path: Path) -> None:
    cipher = AESGCMCipher(new_data_key())
    raft_dir = tmp_path / "raft"
    with DurableStorage.open(
        raft_dir, cipher=cipher, initial_conf_state=ConfState(voters=(1,))
    ) as storage:
        storage.save(
            HardState(term=3, vote=1, commit=4),
            [
                Entry(1, 1, b"a"),
                _conf_entry(2, 1, ConfChangeType.ADD_LEARNER, 2),
                _conf_entry(3, 2, ConfChangeType.PROMOTE, 2),
                Entry(4, 3, b"b"),
                Entry(5, 3, b"uncommitted"),
            ],
        )
    plan = force_new_cluster(raft_dir, 1, cipher=cipher)
    assert plan.removed == (2,)
    with DurableStorage.open(raft_dir, cipher=cipher) as storage:
        hard_state, conf, commit = committed_conf(storage)
        assert conf == ConfState(voters=(1,))
        assert commit == 5 and hard_state.commit == 5
        assert storage.last_index() == 5
        assert [e.data for e in storage.entries(1, 6) if e.type is EntryType.NORMAL] == [
            b"a",
            b"b",
        ]
        # the Raft core starts as a one-member group: it wins its own election
        core = RaftCore(1, [1], storage, rng=random.Random(1))
        for _ in range(40):
            core.tick()
            rd = core.ready()
            if rd is not None:
                storage.save(rd.hard_state, list(rd.entries))
                core.advance(rd)
        assert core.state == "leader"
