"""Healthchecks with Docker's semantics (pure): the check a spec asks for, the schedule,
and the status after each result."""

from __future__ import annotations

import pytest

from actors.worker.executors.base import Health
from actors.worker.executors.health import (
    LOG_ENTRIES,
    OUTPUT_BYTES,
    TIMED_OUT,
    HealthPolicy,
    HealthState,
    ProbeResult,
    after_probe,
    health_policy,
    next_probe_at,
)
from api.specs import HealthConfig

STARTED = 1000.0


def ok(at: float, output: str = "") -> ProbeResult:
    return ProbeResult(at, at + 0.1, 0, output)


def bad(at: float, output: str = "no", code: int = 1) -> ProbeResult:
    return ProbeResult(at, at + 0.1, code, output)


def run(policy: HealthPolicy, *results: ProbeResult) -> HealthState:
    state = HealthState()
    for result in results:
        state = after_probe(state, policy, result, STARTED)
    return state


def test_the_check_a_spec_asks_for_with_dockers_defaults() -> None:
    assert health_policy(None) is None
    assert health_policy(HealthConfig()) is None  # the image's: a process has none
    assert health_policy(HealthConfig(test=("NONE",))) is None
    shell = health_policy(HealthConfig(test=("CMD-SHELL", "test -f /ok")))
    assert shell == HealthPolicy(("/bin/sh", "-c", "test -f /ok"), 30.0, 30.0, 3, 0.0)
    cmd = health_policy(
        HealthConfig(test=("CMD", "curl", "-f", "x"), interval=2, timeout=1, retries=5)
    )
    assert cmd == HealthPolicy(("curl", "-f", "x"), 2.0, 1.0, 5, 0.0)


@pytest.mark.parametrize(
    "test", [("CMD",), ("CMD-SHELL",), ("CMD-SHELL", "a", "b"), ("SHELL", "true")]
)
def test_other_test_forms_are_refused(test: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="expected"):
        health_policy(HealthConfig(test=test))


def test_starting_until_the_first_success_then_healthy() -> None:
    policy = HealthPolicy(("true",), retries=3)
    assert run(policy).status is Health.STARTING
    assert run(policy, bad(1001.0)).status is Health.STARTING
    state = run(policy, bad(1001.0), ok(1002.0, "fine\n"))
    assert (state.status, state.failing_streak, state.output) == (Health.HEALTHY, 0, "fine")


def test_retries_consecutive_failures_make_it_unhealthy() -> None:
    policy = HealthPolicy(("true",), retries=2)
    state = run(policy, ok(1001.0), bad(1002.0))
    assert (state.status, state.failing_streak) == (Health.HEALTHY, 1)
    state = after_probe(state, policy, bad(1003.0, "down"), STARTED)
    assert (state.status, state.failing_streak, state.output) == (Health.UNHEALTHY, 2, "down")
    assert run(policy, bad(1001.0), bad(1002.0)).status is Health.UNHEALTHY  # never healthy


def test_failures_in_the_start_period_do_not_count_until_a_success() -> None:
    policy = HealthPolicy(("true",), retries=1, start_period=10.0)
    state = run(policy, bad(1001.0), bad(1009.0))
    assert (state.status, state.failing_streak) == (Health.STARTING, 0)
    assert run(policy, bad(1010.0)).status is Health.UNHEALTHY  # the period is over
    # a success inside the period ends it: failures count from then on
    assert run(policy, ok(1001.0), bad(1002.0)).status is Health.UNHEALTHY


def test_a_timed_out_check_fails() -> None:
    policy = HealthPolicy(("sleep", "9"), retries=1)
    state = run(policy, ProbeResult(1001.0, 1031.0, TIMED_OUT, "exceeded timeout"))
    assert state.status is Health.UNHEALTHY


def test_the_log_keeps_the_last_results_cut_to_size() -> None:
    policy = HealthPolicy(("true",), retries=99)
    state = run(policy, *(bad(1000.0 + i, str(i)) for i in range(8)))
    assert [r.output for r in state.log] == [str(i) for i in range(8 - LOG_ENTRIES, 8)]
    big = run(policy, bad(1001.0, "é" * OUTPUT_BYTES))
    assert len(big.log[-1].output.encode()) <= OUTPUT_BYTES


def test_the_schedule() -> None:
    policy = HealthPolicy(("true",), interval=5.0)
    assert next_probe_at(HealthState(), policy, STARTED) == 1005.0  # interval after start
    state = run(policy, ok(1005.0))
    assert next_probe_at(state, policy, STARTED) == pytest.approx(1010.1)  # after the last
