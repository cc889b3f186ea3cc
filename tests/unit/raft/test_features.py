"""Pre-vote, check-quorum, snapshots, learners, conf changes, flow control, restart."""

from __future__ import annotations

import pytest

from actors.proposal_errors import ProposalDropped
from actors.raft_node.progress import ProgressState
from actors.raft_node.types import ConfChange, ConfChangeType, Message, MessageType, RaftState
from tests.unit.raft.harness import Cluster


def test_pre_vote_keeps_a_rejoining_node_from_raising_terms() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    term = c.cores[1].term
    c.isolate(3)
    c.tick(60)
    assert c.cores[3].term == term and c.cores[3].state is RaftState.PRE_CANDIDATE
    c.heal()
    c.tick(3)
    assert c.cores[1].state is RaftState.LEADER and c.cores[1].term == term
    assert c.state(3) is RaftState.FOLLOWER and c.cores[3].leader_id == 1


def test_without_pre_vote_a_rejoining_node_disrupts() -> None:
    c = Cluster([1, 2, 3], pre_vote=False, check_quorum=False)
    c.elect(1)
    term = c.cores[1].term
    c.isolate(3)
    c.tick(60)
    assert c.cores[3].term > term + 1
    c.heal()
    c.tick(3)
    assert c.cores[1].term > term  # the old leader was deposed by the higher term


def test_check_quorum_leader_steps_down_without_a_quorum() -> None:
    c = Cluster([1, 2, 3], election_tick=10)
    c.elect(1)
    c.isolate(1)
    c.tick(20, only=[1])
    assert c.cores[1].state is RaftState.FOLLOWER


def test_stale_term_append_is_answered_with_current_term() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].transfer_leadership(2)
    c.settle()
    core = c.cores[2]
    assert core.term == 2
    core.step(Message(type=MessageType.APPEND, src=3, dst=2, term=1))
    rd = core.ready()
    assert rd is not None
    resp = [m for m in rd.messages if m.dst == 3]
    assert resp and resp[0].term == core.term


def test_leader_steps_down_on_higher_term_response() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].step(Message(type=MessageType.APPEND_RESPONSE, src=2, dst=1, term=99))
    assert c.cores[1].state is RaftState.FOLLOWER and c.cores[1].term == 99


def test_batching_many_proposals_travel_in_one_append_per_follower() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.delivered.clear()
    first = c.cores[1].propose_batch([b"x"] * 50)
    for _ in range(50):
        c.cores[1].propose(b"y")
    c.settle()
    appends = [m for m in c.delivered if m.type is MessageType.APPEND and m.entries]
    assert len(appends) == 2 and all(len(m.entries) == 100 for m in appends)
    assert c.cores[2].commit_index == first + 99


def test_appends_bounded_by_bytes() -> None:
    c = Cluster([1, 2], max_size_per_msg=1000)
    c.elect(1)
    c.delivered.clear()
    for _ in range(20):
        c.cores[1].propose(b"z" * 300)
    c.settle()
    appends = [m for m in c.delivered if m.type is MessageType.APPEND and m.entries]
    assert all(sum(len(e.data) for e in m.entries) <= 1000 for m in appends)
    assert len(c.data(2)) == 20


def test_in_flight_appends_are_capped() -> None:
    c = Cluster([1, 2, 3], max_inflight=3, max_size_per_msg=1)
    c.elect(1)
    c.dropped_types.add(MessageType.APPEND_RESPONSE)
    c.cut(1, 3)
    c.delivered.clear()
    for _ in range(20):
        c.cores[1].propose(b"w")
        c.settle()
    to2 = [m for m in c.delivered if m.type is MessageType.APPEND and m.dst == 2 and m.entries]
    assert len(to2) == 3
    c.heal()
    c.tick(3)
    assert len(c.data(2)) == 20


def test_snapshot_sent_to_follower_behind_compacted_log() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.isolate(3)
    for k in range(30):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    leader, st = c.cores[1], c.storages[1]
    st.create_snapshot(leader.applied_index, leader.conf_state, b"state@%d" % leader.applied_index)
    st.compact(leader.applied_index - 2)
    c.heal()
    c.delivered.clear()
    c.tick(3)
    snaps = [m for m in c.delivered if m.type is MessageType.SNAPSHOT]
    assert len(snaps) == 1 and snaps[0].dst == 3
    assert c.storages[3].snapshot().data.startswith(b"state@")
    assert c.cores[3].commit_index == leader.commit_index
    leader.propose(b"after")
    c.settle()
    assert c.data(3)[-1] == b"after"


def test_lost_snapshot_is_retried() -> None:
    c = Cluster([1, 2, 3], snapshot_retry_ticks=5)
    c.elect(1)
    c.cut(1, 2)
    for k in range(10):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    c.snapshot(1, b"s")
    c.heal()
    c.dropped_types.add(MessageType.SNAPSHOT)
    c.tick(3)
    c.dropped_types.clear()
    c.tick(8)
    snaps = [m for m in c.delivered if m.type is MessageType.SNAPSHOT]
    assert len(snaps) >= 1  # the first one was dropped: this is the retry
    assert c.storages[2].snapshot().data == b"s"
    assert c.cores[2].commit_index == c.cores[1].commit_index


def test_learner_catches_up_without_voting_then_is_promoted() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    for k in range(10):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    c.add_node(4, [1, 2, 3])
    leader = c.cores[1]
    leader.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4, b"addr4"))
    c.settle()
    c.tick(2)
    assert leader.learners == (4,) and c.cores[4].state is RaftState.LEARNER
    assert c.data(4) == c.data(1)
    assert leader.is_caught_up(4)
    # A learner never counts towards commit: with 2 and 3 down nothing commits.
    c.down |= {2, 3}
    idx = leader.propose(b"needs-quorum")
    c.settle()
    assert leader.commit_index < idx
    c.down.clear()
    c.tick(2)
    leader.propose_conf_change(ConfChange(ConfChangeType.PROMOTE, 4))
    c.settle()
    c.tick(2)
    assert leader.voters == (1, 2, 3, 4) and c.cores[4].voters == (1, 2, 3, 4)
    assert c.state(4) is RaftState.FOLLOWER


def test_only_one_conf_change_pending_at_a_time() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.isolate(1)
    c.cores[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    with pytest.raises(ProposalDropped):
        c.cores[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 5))
    c2 = Cluster([1])
    c2.elect(1)
    c2.tick(1)
    for bad in (ConfChange(ConfChangeType.PROMOTE, 1), ConfChange(ConfChangeType.REMOVE, 1)):
        with pytest.raises(ValueError):
            c2.cores[1].propose_conf_change(bad)


def test_leader_removing_itself_steps_down_and_the_rest_elect() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.cores[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE, 1))
    c.settle()
    assert c.cores[1].state is RaftState.FOLLOWER
    c.tick(40)
    new = c.leader()
    assert new is not None and new.id in (2, 3) and new.voters == (2, 3)


def test_restart_restores_term_vote_log_and_configuration() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    for k in range(5):
        c.cores[1].propose(b"%d" % k)
    c.cores[1].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    c.settle()
    c.tick(2)
    before = c.cores[2].status()
    crashed = c.restart(2, crash=True)  # a commit index that only moved is not synced
    assert (crashed.term, crashed.vote) == (before.term, before.vote)
    assert crashed.last_index == before.last_index and crashed.commit_index <= before.commit
    c.settle()
    c.tick(2)
    before = c.cores[2].status()
    core = c.restart(2)
    assert (core.term, core.vote, core.last_index) == (before.term, before.vote, before.last_index)
    assert core.commit_index == before.commit and core.learners == (4,)
    assert core.state is RaftState.FOLLOWER
    c.settle()
    assert c.data(2) == c.data(1)  # committed entries are re-delivered for re-application
    # Whole-cluster restart keeps everything.
    for i in (1, 2, 3):
        c.restart(i)
    c.tick(40)
    leader = c.leader()
    assert leader is not None
    leader.propose(b"again")
    c.settle()
    assert c.data(3)[-1] == b"again"


def test_restart_from_snapshot() -> None:
    c = Cluster([1])
    c.elect(1)
    for k in range(5):
        c.cores[1].propose(b"%d" % k)
    c.settle()
    st = c.storages[1]
    st.create_snapshot(3, c.cores[1].conf_state, b"snap")
    st.compact(3)
    core = c.restart(1)
    assert core.last_index == 6 and core.commit_index == 6 and core.applied_index == 3
    c.settle()
    assert [e.index for e in c.applied[1]] == [4, 5, 6]


def test_status_reports_peer_progress() -> None:
    c = Cluster([1, 2, 3])
    c.elect(1)
    c.isolate(3)
    c.tick(3)
    st = c.cores[1].status()
    assert st.progress[2].ticks_since_heard == 0 and st.progress[2].state is ProgressState.REPLICATE
    assert st.progress[3].ticks_since_heard == 3
    assert st.progress[2].match == c.cores[1].last_index
