"""The Raft paper's claims, one test each (Ongaro & Ousterhout, 2014; thesis chapters 3-4)."""

from __future__ import annotations

import pytest

from actors.proposal_errors import ProposalDropped
from actors.raft_node.types import (
    ConfChange,
    ConfChangeType,
    Message,
    MessageType,
    RaftState,
)
from tests.unit.raft.harness import Cluster


def test_election_restriction_a_stale_log_cannot_win() -> None:
    """§5.4.1: a voter denies its vote to a candidate whose log is less up to date."""
    c = Cluster([1, 2, 3], pre_vote=False, check_quorum=False)
    c.elect(1)
    c.cut(1, 3)
    for k in range(5):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    assert c.cores[2].last_index > c.cores[3].last_index
    c.down.add(1)
    c.heal()
    for _ in range(60):  # only node 3 times out
        c.cores[3].tick()
        c.settle()
    assert c.cores[3].state is RaftState.CANDIDATE
    assert c.cores[3].term > c.cores[2].term - 1
    assert c.leader() is None or c.leader() is not c.cores[3]
    denials = [
        m for m in c.delivered if m.type is MessageType.VOTE_RESPONSE and m.src == 2 and m.dst == 3
    ]
    assert denials and all(m.reject for m in denials)
    c.elect(2)  # the up-to-date node can win
    assert c.cores[2].state is RaftState.LEADER


@pytest.mark.parametrize(
    "follower",
    [
        [1, 1, 1, 4, 4, 5, 5, 6, 6],  # (a) missing entries
        [1, 1, 1, 4],  # (b)
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  # (c) extra uncommitted entry
        [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  # (d) extra entries of a later term
        [1, 1, 1, 4, 4, 4, 4],  # (e) missing and extra
        [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  # (f) a leader of terms 2 and 3 that crashed
    ],
)
def test_figure_7_log_reconciliation(follower: list[int]) -> None:
    """§5.3: the leader forces a follower's log to duplicate its own, whatever the case."""
    leader_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
    c = Cluster([1, 2, 3])
    c.preload(1, leader_log, term=7)
    c.preload(2, follower, term=max(follower))
    c.elect(1)  # node 3 (empty log) grants the vote
    c.settle()
    assert c.cores[1].term == 8
    assert c.log_terms(2) == [*leader_log, 8] == c.log_terms(1)
    assert c.cores[2].commit_index == 11
    rejections = [
        m for m in c.delivered if m.src == 2 and m.reject and m.type is MessageType.APPEND_RESPONSE
    ]
    assert len(rejections) <= 2  # fast back-off: one round trip per term, not per entry


def test_figure_8_leader_never_commits_old_term_entries_by_counting() -> None:
    """§5.4.2: an entry of an earlier term on a majority is not committed by counting."""
    c = Cluster([1, 2, 3, 4, 5], pre_vote=False, check_quorum=False)
    c.preload(1, [1, 2], term=3)
    c.preload(2, [1, 2], term=3)
    c.preload(3, [1], term=3)
    c.preload(4, [1], term=3)
    c.preload(5, [1, 3], term=3)

    def only_first_entry(m: Message) -> Message | None:
        # S1 manages to ship only the old entry (index 2, term 2), not its term-4 no-op.
        if m.type is MessageType.APPEND and m.src == 1 and m.entries:
            old = tuple(e for e in m.entries if e.term < 4)
            return Message(
                type=m.type,
                src=m.src,
                dst=m.dst,
                term=m.term,
                log_term=m.log_term,
                index=m.index,
                entries=old,
                commit=m.commit,
            )
        return m

    c.transform = only_first_entry
    c.cut(1, 5)
    c.elect(1)  # term 4, votes from 2, 3, 4
    assert c.cores[1].term == 4
    assert [c.storages[i].term(2) for i in (1, 2, 3)] == [2, 2, 2]  # on a majority...
    assert c.cores[1].commit_index < 2  # ...but not committed (Figure 8 c)
    # S1 crashes; S5 (last term 3) wins and overwrites index 2 (Figure 8 d).
    c.down.add(1)
    c.transform = None
    c.heal()
    c.elect(5)
    c.settle()
    for i in (2, 3, 4, 5):
        assert c.storages[i].term(2) == 3
    assert all(e.term != 2 for i in (2, 3, 4, 5) for e in c.applied[i])


def test_figure_8_entry_of_current_term_commits_earlier_ones() -> None:
    """§5.4.2 (Figure 8 e): once a current-term entry is on a majority, all before commit."""
    c = Cluster([1, 2, 3, 4, 5], pre_vote=False, check_quorum=False)
    for i, log in {1: [1, 2], 2: [1, 2], 3: [1], 4: [1], 5: [1, 3]}.items():
        c.preload(i, log, term=3)
    c.cut(1, 5)
    c.elect(1)
    c.settle()
    assert c.cores[1].commit_index == 3 and c.cores[1].term_at(2) == 2


def test_partitioned_old_leader_cannot_commit() -> None:
    """§5.4/§6: a leader cut off from the majority cannot commit and steps down
    (check-quorum); its uncommitted entries are replaced once the partition heals."""
    c = Cluster([1, 2, 3, 4, 5])
    c.elect(1)
    old_term = c.cores[1].term
    c.isolate(1)
    idx = c.cores[1].propose(b"lost")
    c.tick(25)  # the majority side elects a new leader; node 1 hears no quorum
    new = c.leader()
    assert new is not None and new.id != 1 and new.term > old_term
    assert c.cores[1].state is not RaftState.LEADER  # check-quorum made it step down
    assert c.cores[1].commit_index < idx
    new.propose(b"kept")
    c.settle()
    c.heal()
    c.tick(5)
    for i in c.ids:
        assert b"lost" not in c.data(i)
        assert b"kept" in c.data(i)


def test_removed_member_cannot_disrupt_the_cluster() -> None:
    """§4.2.3: a removed server that never learned of its removal times out and campaigns;
    pre-vote and the leader lease keep it from raising terms or deposing the leader."""
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.isolate(3)
    c.cores[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE, 3))
    c.settle()
    c.tick(2)
    assert c.cores[1].voters == (1, 2)
    term = c.cores[1].term
    c.heal()
    c.tick(100)
    assert c.cores[1].state is RaftState.LEADER and c.cores[1].term == term
    assert c.cores[2].term == term
    c.cores[1].propose(b"after")
    c.settle()
    assert b"after" in c.data(2)


def test_leadership_transfer() -> None:
    """§3.10: the leader brings the target up to date, then sends TIMEOUT_NOW; the target
    wins at once (overriding leases) and no proposal is accepted meanwhile."""
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cut(1, 3)
    for k in range(5):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    c.heal()
    c.cores[1].transfer_leadership(3)  # 3 lags: it must catch up first
    with pytest.raises(ProposalDropped):
        c.cores[1].propose(b"during")
    c.settle()
    assert c.cores[3].state is RaftState.LEADER
    assert c.cores[1].state is RaftState.FOLLOWER and c.cores[1].leader_id == 3
    assert c.cores[3].term == c.cores[1].term
    c.cores[3].propose(b"new")
    c.settle()
    assert c.data(1)[-1] == b"new"


def test_leadership_transfer_to_unreachable_node_aborts_after_election_timeout() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.isolate(3)
    c.cores[1].transfer_leadership(3)
    c.tick(10, only=[1])
    assert c.cores[1].state is RaftState.LEADER and c.cores[1].lead_transferee == 0
    c.cores[1].propose(b"ok")
