"""Control calls wait until the manager can serve them (actors/control/readiness.py): what
is still starting, which calls need a known leader once started, and the gate, on a
manual clock (no threads, no sleeping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from actors.control.errors import ControlCode, ControlError
from actors.control.readiness import (
    LEADERLESS_SETTLED,
    LOST_QUORUM,
    NO_LEADER_MESSAGE,
    ReadinessGate,
    StartupState,
    needs_leader,
    serving_gap,
    startup_gap,
)
from tests.support.clocks import ManualTime

READY = StartupState(raft_running=True, leader_id=7, has_cluster=True)
LEADERLESS = StartupState(raft_running=True, leader_id=0, has_cluster=True)


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (StartupState(False, 0, False), "Raft member is not running"),
        (StartupState(True, 0, True), "no Raft leader is known"),
        (StartupState(True, 7, False), "does not hold the cluster object"),
    ],
)
def test_what_is_still_starting_is_named(state: StartupState, says: str) -> None:
    gap = startup_gap(state)
    assert gap is not None and says in gap


def test_nothing_is_missing_once_raft_has_a_leader_and_the_store_the_cluster() -> None:
    assert startup_gap(READY) is None


class FakeRequest:
    def __init__(self) -> None:
        self.body: Mapping[str, Any] = {}
        self.errors: list[tuple[str, str]] = []

    def error(self, code: str, message: str) -> None:
        self.errors.append((code, message))


def gate_over(states: list[StartupState], time: ManualTime) -> ReadinessGate:
    """A gate whose probe answers ``states`` in turn (the last one from then on)."""
    seen = iter(states)
    last = states[-1]

    def probe() -> StartupState:
        return next(seen, last)

    return ReadinessGate(probe, wait=1.0, recheck=0.25, clock=time.clock, sleep=time.sleep)


def test_a_call_waits_until_the_manager_is_ready_and_then_runs() -> None:
    time = ManualTime()
    gate = gate_over([StartupState(True, 0, False), StartupState(True, 7, False), READY], time)
    calls: list[Any] = []
    handler = gate.guard({"control.node.ls": lambda request: calls.append(request) or {"n": 1}})
    request = FakeRequest()
    assert handler["control.node.ls"](request) == {"n": 1}  # type: ignore[arg-type]
    assert calls == [request] and not request.errors
    assert time.slept == [0.25, 0.25] and gate.ready


def test_once_started_calls_served_without_a_leader_wait_for_nothing() -> None:
    time = ManualTime()
    gate = gate_over([READY, StartupState(False, 0, False)], time)
    gate.admit("control.node.ls")
    for call in ("version", "control.unlock", "control.logs.read", "control.events"):
        gate.admit(call)  # not even probed: raft restarting does not hold them
    assert time.slept == [] and gate.ready


def test_a_call_that_waited_too_long_is_refused_naming_what_is_still_starting() -> None:
    time = ManualTime()
    gate = gate_over([StartupState(True, 0, False)], time)
    handler = gate.guard({"control.cluster.join_token": lambda _request: {"token": "x"}})
    request = FakeRequest()
    assert handler["control.cluster.join_token"](request) is None  # type: ignore[arg-type]
    [(code, message)] = request.errors
    assert code == "unavailable"
    assert "still starting: no Raft leader is known yet" in message and "waited 1s" in message
    assert sum(time.slept) == pytest.approx(1.0) and not gate.ready
    with pytest.raises(ControlError, match="still starting"):
        gate.admit("control.unlock")  # still not started: every call waits again


# -- once started: cluster state only with a known leader ------------------------------------

CLUSTER_CALLS = [
    "control.node.ls",
    "control.node.inspect",
    "control.service.ls",
    "control.service.ps",
    "control.task.ls",
    "control.cluster.inspect",
    "control.cluster.join_token",
    "control.cluster.unlock_key",
    "control.secret.ls",
    "control.config.inspect",
    "control.network.ls",
    "control.service.create",
    "control.node.update",
    "control.cluster.update",
    "control.some.future_call",  # a call added later needs a leader unless listed
]
SELF_CALLS = ["version", "control.unlock", "control.logs.subscribe", "control.logs.read"]


@pytest.mark.parametrize("call", CLUSTER_CALLS)
def test_cluster_state_reads_and_writes_need_a_leader(call: str) -> None:
    assert needs_leader(call)
    assert serving_gap(call, LEADERLESS, started=True) is not None
    assert serving_gap(call, READY, started=True) is None


@pytest.mark.parametrize("call", [*SELF_CALLS, "control.events"])
def test_the_nodes_own_view_logs_and_events_are_served_without_a_leader(call: str) -> None:
    assert not needs_leader(call)
    assert serving_gap(call, LEADERLESS, started=True) is None
    assert serving_gap(call, StartupState(False, 0, False), started=True) is None


def test_before_the_start_every_call_waits_for_the_whole_start_up() -> None:
    gap = serving_gap("version", StartupState(True, 7, False), started=False)
    assert gap is not None and gap.starting is not None and "cluster object" in gap.starting
    assert serving_gap("control.node.ls", READY, started=False) is None


def test_without_a_leader_the_refusal_is_dockers_message() -> None:
    gap = serving_gap("control.node.ls", LEADERLESS, started=True)
    assert gap is not None
    err = gap.refusal(waited=8.0)
    assert err.code == ControlCode.NO_LEADER == "no_leader"
    assert err.message == NO_LEADER_MESSAGE
    assert err.message.startswith("The swarm does not have a leader.")


def test_a_lost_leader_makes_a_read_wait_for_the_election() -> None:
    time = ManualTime()
    gate = gate_over([READY, LEADERLESS, LEADERLESS, StartupState(True, 9, True)], time)
    gate.admit("control.node.ls")
    handler = gate.guard({"control.node.ls": lambda _request: {"nodes": []}})
    request = FakeRequest()
    assert handler["control.node.ls"](request) == {"nodes": []}  # type: ignore[arg-type]
    assert not request.errors and time.slept == [0.25, 0.25]


def test_a_read_without_a_leader_for_the_whole_wait_is_refused() -> None:
    time = ManualTime()
    gate = gate_over([READY, LEADERLESS], time)
    gate.admit("control.service.create")
    calls: list[Any] = []
    table = {
        "control.node.ls": lambda request: calls.append(request) or {"nodes": []},
        "control.unlock": lambda _request: {"unlocked": False},
    }
    handler = gate.guard(table)
    request = FakeRequest()
    assert handler["control.node.ls"](request) is None  # type: ignore[arg-type]
    assert request.errors == [("no_leader", NO_LEADER_MESSAGE)] and calls == []
    assert sum(time.slept) == pytest.approx(1.0)
    assert gate.ready  # started still: the next leaderless read waits again, no more
    assert handler["control.unlock"](FakeRequest()) == {"unlocked": False}  # type: ignore[arg-type]


def test_a_member_leaderless_past_an_election_is_refused_at_once() -> None:
    time = ManualTime()
    lost = StartupState(True, 0, True, leaderless_for=LEADERLESS_SETTLED)
    assert serving_gap("control.node.ls", lost, started=True) == LOST_QUORUM
    assert serving_gap("version", lost, started=True) is None
    gate = gate_over([READY, lost], time)
    gate.admit("control.service.create")
    with pytest.raises(ControlError) as refused:
        gate.admit("control.node.ls")
    assert refused.value.code == "no_leader" and time.slept == []  # no wait for nothing
