"""A peer's frame or proposal handed in from the endpoint's I/O thread runs its round on
that thread when the loop is free (`RaftLoop.run_inline`): no hand-off to the loop thread,
the answer is made before the handler returns. While a round runs on the loop thread, what
peers hand in waits on the inbox and is carried out after it, in order."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import actors.raft_node.loop as raft_loop
from tests.support.waiting import wait_for
from tests.unit.raft_actor.peer_request import PeerRequest
from tests.unit.raft_actor.test_raft_propose_answers import started


class ThreadRecordingRequest(PeerRequest):
    """Records the thread each answer is made on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threads: list[int] = []

    def reply(self, body: Any = None, *, more: bool = False, check: bool = True) -> None:
        self.threads.append(threading.get_ident())
        super().reply(body, more=more, check=check)


def propose_during_a_held_round(node: Any, requests: list[PeerRequest], count: int) -> None:
    """Hand in ``count`` proposals, added to ``requests`` before any is proposed, while a
    round holds the loop thread: they are carried out after it (the round is released
    once they are on the inbox)."""
    entered, release = threading.Event(), threading.Event()

    def hold(_core: Any) -> None:
        entered.set()
        release.wait(10)

    held = node.call(hold)  # a round on the loop thread that lasts
    assert entered.wait(10)
    propose = node.handlers()["raft.propose"]
    requests.extend(
        PeerRequest("raft.propose", {"data": [b"\xc4\x01%d" % i]}) for i in range(count)
    )
    for request in requests:
        propose(request)
    assert all(not r.replies for r in requests)  # on the inbox, not carried out
    release.set()
    held.result(10)


def test_a_peer_proposal_is_carried_out_on_the_handlers_thread(tmp_path: Path) -> None:
    node = started(tmp_path, (1,))
    try:
        wait_for(lambda: node.is_leader, "node 1 to lead", 10)
        propose = node.handlers()["raft.propose"]
        me = threading.get_ident()
        requests: list[ThreadRecordingRequest] = []
        # one at a time, each answered before the next: the loop thread ticks now and
        # then, so most find it free (on a loaded machine a burst can all find it busy)
        for i in range(50):
            request = ThreadRecordingRequest("raft.propose", {"data": [b"\xc4\x01%d" % i]})
            propose(request)
            requests.append(request)
            wait_for(lambda r=request: bool(r.replies), "the answer", 10)
            if request.threads == [me]:
                break
        assert requests[-1].threads == [me], "no proposal of 50 was carried out inline"
        indexes = [r.replies[0]["index"] for r in requests]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    finally:
        node.stop()


def test_what_peers_hand_in_during_a_round_waits_for_it_in_order(tmp_path: Path) -> None:
    node = started(tmp_path, (1,))
    try:
        wait_for(lambda: node.is_leader, "node 1 to lead", 10)
        requests: list[PeerRequest] = []
        propose_during_a_held_round(node, requests, 5)
        wait_for(lambda: all(r.replies for r in requests), "every answer", 10)
        indexes = [r.replies[0]["index"] for r in requests]
        assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
        assert all(r.errors == [] for r in requests)
    finally:
        node.stop()


def test_a_leader_gives_up_its_cpu_once_the_last_waiting_writer_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the apply that answers the last writer waiting, the round hands the CPU over
    (transport.handoff: the thread that sends the reply runs first); a round that answers
    several writers does it once, after the last answer."""
    yields: list[tuple[int, int]] = []  # (proposals still waiting, writers answered) at each
    requests: list[PeerRequest] = []
    monkeypatch.setattr(
        raft_loop,
        "hand_over",
        lambda: yields.append((len(node._loop.proposals), sum(1 for r in requests if r.replies))),
    )
    node = started(tmp_path, (1,))
    try:
        wait_for(lambda: node.is_leader, "node 1 to lead", 10)
        propose_during_a_held_round(node, requests, 5)  # they wait for one round
        wait_for(lambda: all(r.replies for r in requests), "every answer", 10)
        wait_for(lambda: yields, "the hand-over", 10)
        assert yields == [(0, 5)]
    finally:
        node.stop()
