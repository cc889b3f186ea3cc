"""A joining manager's ``raft.join`` requests (actors/node/membership/join.py): one manager
a tick, the leader a reply names first, a pause between rounds, and nothing more once
its Raft node is a member. Real CURVE endpoints on 127.0.0.1 answer as the managers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from actors.node.membership.join import (
    JOINER_INTERVAL,
    MEMBER_IDLE,
    JoinAsker,
    RaftJoiner,
    keep_remover_first,
)
from actors.node.startup.security import read_managers
from actors.node.tree.leader_group import RaftHolder
from actors.raft_node.actor import RaftNode
from actors.raft_node.storage import DurableStorage
from actors.raft_node.types import ConfState
from actors.stoppable import StopRequested
from actors.store import MemoryStore
from tests.support.ports import free_port
from tests.support.waiting import wait_for
from tests.unit.node.in_process import InProcess
from transport.auth import AdmitAll
from transport.endpoint import Endpoint, Request
from transport.keys import KeyPair, generate_keypair

RAFT_ID = 7


class Manager:
    """An endpoint answering ``raft.join`` with ``reply`` (or the error ``refuse`` names),
    recording who asked."""

    def __init__(self, reply: Mapping[str, Any], refuse: tuple[str, str] | None = None) -> None:
        self.reply = dict(reply)
        self.refuse = refuse
        self.asked: list[int] = []
        self.gate: threading.Event | None = None  # when given, an answer waits for it
        self.keys = generate_keypair()
        self.endpoint = Endpoint(
            "tcp://127.0.0.1:0",
            {"raft.join": self._join},
            keypair=self.keys,
            admission=AdmitAll(),
            name="manager",
        )
        self.addr = self.endpoint.start()

    def _join(self, request: Request) -> Mapping[str, Any] | None:
        self.asked.append(int(request.body["raft_id"]))
        if self.gate is not None:
            self.gate.wait(60)
        if self.refuse is not None:
            request.error(*self.refuse)
            return None
        return self.reply

    def entry(self, raft_id: int = 0) -> dict[str, str]:
        return {
            "addr": self.addr,
            "server_key": self.keys.public.decode("ascii"),
            "raft_id": str(raft_id),
        }


@pytest.fixture
def managers() -> Iterator[list[Manager]]:
    made: list[Manager] = []
    yield made
    for m in made:
        m.endpoint.stop()


def asker(
    entries: list[dict[str, str]],
    keypair: KeyPair | None = None,
    timeout: float = 5.0,
    stop: threading.Event | None = None,
) -> JoinAsker:
    return JoinAsker(
        node_id="n" * 25,
        raft_id=RAFT_ID,
        advertise="127.0.0.1:9",
        keypair=keypair or generate_keypair(),
        managers=lambda: entries,
        request_timeout=timeout,
        stop=stop,
    )


def test_a_follower_s_hint_ends_the_round_and_the_leader_is_asked_first(
    managers: list[Manager],
) -> None:
    leader = Manager({"ok": True, "index": 12, "voters": [1]})
    follower = Manager({"ok": False})
    managers += [leader, follower]
    follower.reply.update(leader_addr=leader.addr, leader_key=leader.keys.public.decode())
    ask = asker([follower.entry(2), leader.entry(1)])
    assert ask.ask_next() is None  # the follower names the leader: the round ends
    assert not ask.in_round and follower.asked == [RAFT_ID] and leader.asked == []
    reply = ask.ask_next()  # the next round starts with the leader
    assert reply is not None and reply["index"] == 12
    assert leader.asked == [RAFT_ID] and follower.asked == [RAFT_ID]


def test_a_hint_naming_this_node_itself_is_not_followed(managers: list[Manager]) -> None:
    """A follower of the old group names the leader it knows, this node's own old member
    (--force-new-cluster elsewhere): this node would ask itself, where nothing answers
    while it joins. It asks the next manager of the round instead."""
    me = generate_keypair()
    follower, leader = Manager({"ok": False}), Manager({"ok": True, "index": 3, "voters": [1]})
    managers += [follower, leader]
    follower.reply.update(leader_addr="tcp://127.0.0.1:9", leader_key=me.public.decode())
    ask = asker([follower.entry(2), leader.entry(1)], keypair=me)
    assert ask.ask_next() is None and ask.in_round  # the round goes on
    reply = ask.ask_next()
    assert reply is not None and reply["index"] == 3


def test_a_manager_whose_endpoint_is_not_up_fails_at_once(managers: list[Manager]) -> None:
    """A manager starting again (a rejoin: its Raft child joins before its endpoint
    binds) has nothing listening: the request fails as refused, not after its timeout."""
    leader = Manager({"ok": True, "index": 5, "voters": [1]})
    managers.append(leader)
    down = {"addr": f"tcp://127.0.0.1:{free_port()}", "server_key": leader.entry()["server_key"]}
    ask = asker([down, leader.entry(1)], timeout=120.0)
    with capture_logs() as logs:
        assert ask.ask_next() is None
    [failed] = [e for e in logs if e["event"] == "raft.join.retrying"]
    assert "refused the connection" in failed["error"], failed
    reply = ask.ask_next()
    assert reply is not None and reply["index"] == 5


def test_a_removed_manager_keeps_the_member_that_removed_it_first(tmp_path: Path) -> None:
    own = generate_keypair().public.decode()
    entries = [
        {"addr": "tcp://127.0.0.1:1", "server_key": own, "raft_id": "1"},
        {"addr": "tcp://127.0.0.1:3", "server_key": "k3", "raft_id": "3"},
        {"addr": "tcp://127.0.0.1:2", "server_key": "k2", "raft_id": "2"},
    ]
    keep_remover_first(tmp_path, entries, 2, own_key=own)
    assert [m["addr"] for m in read_managers(tmp_path)] == [
        "tcp://127.0.0.1:2",
        "tcp://127.0.0.1:3",
    ]


def test_a_round_asks_every_manager_but_this_node_one_at_a_time(managers: list[Manager]) -> None:
    first, second, me = Manager({"ok": False}), Manager({"ok": False}), Manager({"ok": True})
    managers += [first, second, me]
    ask = asker([first.entry(1), me.entry(RAFT_ID), second.entry(2)])
    assert ask.ask_next() is None and ask.in_round
    assert (first.asked, second.asked) == ([RAFT_ID], [])
    assert ask.round() is None and not ask.in_round  # the rest of the round
    assert (first.asked, second.asked, me.asked) == ([RAFT_ID], [RAFT_ID], [])


def test_the_joiner_asks_one_manager_a_tick_and_pauses_between_rounds(
    managers: list[Manager],
) -> None:
    a, b = Manager({"ok": False}), Manager({"ok": False})
    managers += [a, b]
    joiner = RaftJoiner(raft=RaftHolder(), raft_id=RAFT_ID, asker=asker([a.entry(1), b.entry(2)]))
    joiner.tick(0.0)
    assert (len(a.asked), len(b.asked)) == (1, 0) and joiner.interval() == 0.0
    joiner.tick(0.0)
    assert (len(a.asked), len(b.asked)) == (1, 1) and joiner.interval() == JOINER_INTERVAL
    assert not joiner.member


def test_a_member_asks_nothing(managers: list[Manager], tmp_path: Path) -> None:
    nobody = Manager({"ok": True})
    managers.append(nobody)
    storage = DurableStorage.open(tmp_path, initial_conf_state=ConfState((RAFT_ID,)))
    members: dict[int, RaftNode] = {}
    raft = RaftNode(
        RAFT_ID,
        (RAFT_ID,),
        storage,
        MemoryStore(clock=time.time),
        network=InProcess(members, RAFT_ID),
        tick_interval=0.01,
    )
    holder = RaftHolder()
    holder.node = raft.start()
    try:
        joiner = RaftJoiner(raft=holder, raft_id=RAFT_ID, asker=asker([nobody.entry(1)]))
        joiner.tick(0.0)
        assert joiner.member and joiner.interval() == MEMBER_IDLE
        joiner.tick(1.0)
        assert nobody.asked == []
    finally:
        raft.stop()


class Demoted(Exception):
    pass


def test_a_refusal_of_this_node_is_handed_over_after_the_round(managers: list[Manager]) -> None:
    """A manager refusing the joiner itself (``unauthorized``: demoted before it joined)
    is told to ``until_accepted``'s caller once the round is over, who may end the join;
    a busy manager's answer is no refusal of the node."""
    busy = Manager({}, refuse=("unavailable", "this manager's Raft node is busy: ask again"))
    leader = Manager({}, refuse=("unauthorized", "raft.join: node n is now a worker"))
    managers += [busy, leader]
    ask = asker([busy.entry(2), leader.entry(1)])
    told: list[str] = []

    def refused(reason: str) -> None:
        told.append(reason)
        raise Demoted(reason)

    with pytest.raises(Demoted):
        ask.until_accepted(time.monotonic() + 30, interval=0.01, on_refused=refused)
    assert told == ["unauthorized: raft.join: node n is now a worker"]
    assert busy.asked == [RAFT_ID] and leader.asked == [RAFT_ID]  # one whole round
    # once the cluster lets the node in, the join is accepted
    leader.refuse = None
    leader.reply = {"ok": True, "index": 4, "voters": [1]}
    assert ask.until_accepted(time.monotonic() + 30, interval=0.01)["index"] == 4
    assert ask.refusal is None


class Joining:
    """``until_accepted`` on a thread of its own, as the Raft child runs it; what it
    ended with."""

    def __init__(self, ask: JoinAsker) -> None:
        self.outcome: BaseException | dict[str, Any] | None = None
        self.thread = threading.Thread(target=self._run, args=(ask,), daemon=True)
        self.thread.start()

    def _run(self, ask: JoinAsker) -> None:
        try:
            self.outcome = ask.until_accepted(time.monotonic() + 300, interval=60.0)
        except BaseException as exc:
            self.outcome = exc


def test_the_nodes_stop_ends_the_pause_between_rounds(managers: list[Manager]) -> None:
    """A round turned away, the join pauses before the next: the node's stop (a signal)
    ends the pause, and the join, at once. Before, it slept the pause out and asked on
    until its deadline."""
    declining = Manager({"ok": False})
    managers.append(declining)
    stop = threading.Event()
    joining = Joining(asker([declining.entry(1)], stop=stop))
    wait_for(lambda: declining.asked, "the first round")
    stop.set()
    wait_for(lambda: not joining.thread.is_alive(), "the join ended")
    assert isinstance(joining.outcome, StopRequested)
    assert declining.asked == [RAFT_ID]


def test_the_nodes_stop_abandons_a_request_in_flight(managers: list[Manager]) -> None:
    """A manager that holds the request (a leader whose add waits on its quorum) does
    not hold the node's stop back for the request's timeout."""
    holding = Manager({"ok": True, "index": 2, "voters": [1]})
    managers.append(holding)
    holding.gate = answer = threading.Event()
    stop = threading.Event()
    joining = Joining(asker([holding.entry(1)], timeout=120.0, stop=stop))
    try:
        wait_for(lambda: holding.asked, "the request in flight")
        stop.set()
        wait_for(lambda: not joining.thread.is_alive(), "the join ended")
        assert isinstance(joining.outcome, StopRequested)
    finally:
        answer.set()
