"""Start timeouts that agree (actors/node/tree/node.py, manager_membership.py): each wait
on a node's start is derived from the ones inside it, so what fails a slow start is the
part that was slow, with its own message (a manager's first Raft join: the join's), never
an outer wait cutting it short. Before, `Node.start` gave up after 30 s while the Raft
child may take 60 s and its join 50 s, and a join's request could outlast the join."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.node.config import NodeConfig
from actors.node.leaving import LeaveRefused, LeaveRequest
from actors.node.membership.join import JoinAsker
from actors.node.startup.at_rest import prepare_at_rest
from actors.node.startup.security import prepare_node
from actors.node.tree.leader_group import LEADER_GROUP, leader_children
from actors.node.tree.manager_membership import (
    RAFT_JOIN_TIMEOUT,
    RAFT_START_TIMEOUT,
)
from actors.node.tree.manager_parts import ManagerParts
from actors.node.tree.node import START_MARGIN, start_wait
from actors.node.tree.parts_setup import PartsSetup
from actors.supervisor import ChildSpec, start_actor, start_bound
from actors.supervisor import Supervisor as SupervisorActor
from api.objects import NodeDescription
from tests.support.waiting import wait_for
from tests.unit.node.test_raft_joiner import Manager
from transport.keys import generate_keypair


def _spec(name: str, start_timeout: float, *, autostart: bool = True) -> ChildSpec:
    return ChildSpec(
        name, start_actor(SupervisorActor, []), autostart=autostart, start_timeout=start_timeout
    )


def test_a_tree_waits_for_each_child_s_start_in_turn() -> None:
    children = [_spec("a", 10.0), _spec("b", 60.0), _spec("later", 90.0, autostart=False)]
    # a start_child queued ahead of the node's question is served first: counted too
    assert start_bound(children) == 160.0
    assert start_wait(children) == 160.0 + START_MARGIN


def _leave(_force: bool) -> LeaveRequest:
    raise LeaveRefused("not in this test")


@pytest.fixture
def manager_parts(tmp_path: Path) -> Iterator[ManagerParts]:
    """A founder's parts, built as the runner builds them (nothing started)."""
    state_dir = tmp_path / "state"
    startup = prepare_node(state_dir, hostname="m1", advertise_addr="127.0.0.1:1")
    assert startup.keys is not None
    setup = PartsSetup(
        config=NodeConfig(
            state_dir=state_dir,
            hostname="m1",
            listen_remote_api="127.0.0.1:1",
            listen_control_api=tmp_path / "control.sock",
            advertise_addr="127.0.0.1:1",
            executor="process",
        ),
        startup=startup,
        executor="process",
        description=NodeDescription(hostname="m1"),
        on_role_change=lambda _certs: None,
        on_leave=_leave,
        stopping=threading.Event(),
    )
    at_rest = prepare_at_rest(state_dir, startup.keys, init=False, force_new_cluster_id=None)
    parts = ManagerParts(setup, at_rest)
    yield parts
    parts.log_relay.close()


def test_a_managers_start_waits_out_its_first_raft_join(manager_parts: ManagerParts) -> None:
    children = {spec.name: spec for spec in manager_parts.children()}
    raft = children["raft"]
    # the join (no request outlasts it), then opening the storage
    assert raft.start_timeout == RAFT_START_TIMEOUT > RAFT_JOIN_TIMEOUT
    # the node waits longer than its Raft child may take, and than every child together
    assert start_wait(list(children.values())) > start_bound(list(children.values()))
    assert start_bound(list(children.values())) > raft.start_timeout
    # the leader group waits for its own children (and the node's extra ones), each
    # within its own timeout
    own = leader_children(
        manager_parts.store,
        manager_parts.raft,
        manager_parts.registration,
        manager_parts.dispatcher,
        manager_parts.shared.managers,
    )
    assert children[LEADER_GROUP].start_timeout > start_wait(own)


@pytest.fixture
def managers() -> Iterator[list[Manager]]:
    made: list[Manager] = []
    yield made
    for m in made:
        m.endpoint.stop()


def _asker(manager: Manager, request_timeout: float) -> JoinAsker:
    return JoinAsker(
        node_id="n" * 25,
        raft_id=7,
        advertise="127.0.0.1:9",
        keypair=generate_keypair(),
        managers=lambda: [manager.entry(1)],
        request_timeout=request_timeout,
    )


class Joining:
    """``until_accepted`` with ``deadline`` seconds, on a thread of its own as the Raft
    child runs it; what it ended with."""

    def __init__(self, ask: JoinAsker, deadline: float) -> None:
        self.outcome: BaseException | dict[str, object] | None = None
        self.thread = threading.Thread(target=self._run, args=(ask, deadline), daemon=True)
        self.thread.start()

    def _run(self, ask: JoinAsker, deadline: float) -> None:
        try:
            self.outcome = ask.until_accepted(time.monotonic() + deadline, interval=0.05)
        except BaseException as exc:
            self.outcome = exc


def test_no_request_of_a_join_outlasts_its_deadline(managers: list[Manager]) -> None:
    """A leader that holds the request (its add waits on a quorum): the join ends at its
    deadline, saying so, instead of waiting out the request's own timeout (whichever
    outer timeout came first then said the node did not start)."""
    holding = Manager({"ok": True, "index": 2, "voters": [1]})
    managers.append(holding)
    holding.gate = answer = threading.Event()
    try:
        joining = Joining(_asker(holding, request_timeout=120.0), deadline=1.0)
        # far less than the request's timeout: only a request cut at the deadline ends
        wait_for(lambda: not joining.thread.is_alive(), "the join ended", timeout=30.0)
        assert isinstance(joining.outcome, TimeoutError), joining.outcome
        message = str(joining.outcome)
        assert "no manager added this node to the Raft group within 1s" in message
        assert f"{holding.addr.split('://')[-1]}: " in message and "no reply" in message
    finally:
        answer.set()


def test_a_join_that_gives_up_names_the_last_answer(managers: list[Manager]) -> None:
    """What a failed start prints: why the managers turned the node away."""
    refusing = Manager({}, refuse=("unavailable", "cannot add the member: no quorum"))
    managers.append(refusing)
    joining = Joining(_asker(refusing, request_timeout=5.0), deadline=0.5)
    wait_for(lambda: not joining.thread.is_alive(), "the join ended")
    assert isinstance(joining.outcome, TimeoutError), joining.outcome
    assert "last answer: " in str(joining.outcome)
    assert "unavailable: cannot add the member: no quorum" in str(joining.outcome)
