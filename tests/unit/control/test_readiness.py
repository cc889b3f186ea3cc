"""Control calls made while a manager starts wait for it (actors/control/readiness.py):
what is still starting, and the gate, on a manual clock (no threads, no sleeping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from actors.control.errors import ControlError
from actors.control.readiness import ReadinessGate, StartupState, startup_gap
from tests.support.clocks import ManualTime

READY = StartupState(raft_running=True, leader_id=7, has_cluster=True)


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


def test_once_ready_the_gate_stays_open() -> None:
    time = ManualTime()
    gate = gate_over([READY, StartupState(True, 0, True)], time)
    gate.wait_ready()
    gate.wait_ready()  # a later election does not close it: writes retry on their own
    assert time.slept == []


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
        gate.wait_ready()  # still not ready: the next call waits again
