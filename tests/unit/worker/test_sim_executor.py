"""The simulated executor's knobs: start delay, failure rate, exit on demand, waiters."""

from __future__ import annotations

import random
import threading

import pytest

from actors.worker.executors.base import (
    ContainerExistsError,
    EngineUnavailableError,
    RuntimeState,
)
from actors.worker.executors.sim import FAILED_EXIT_CODE, SimExecutor
from tests.unit.worker.helpers import make_task


def test_start_sleeps_the_start_delay_on_the_callers_thread() -> None:
    slept: list[float] = []
    executor = SimExecutor("n", start_delay=0.25, sleep=slept.append)
    control = executor.controller(make_task("t"))
    control.prepare()
    control.start()
    assert slept == [0.25] and executor.running() == ["t"]


def test_fail_rate_exits_started_tasks_with_code_1_and_tells_the_listener() -> None:
    exits: list[tuple[str, int]] = []
    executor = SimExecutor(
        "n", fail_rate=1.0, rng=random.Random(3), on_exit=lambda t, c: exits.append((t, c))
    )
    control = executor.controller(make_task("t"))
    control.prepare()
    control.start()
    assert control.inspect().state is RuntimeState.EXITED
    assert control.wait().exit_code == FAILED_EXIT_CODE
    assert exits == [("t", FAILED_EXIT_CODE)]


def test_exit_on_demand_wakes_a_waiter_and_close_ends_a_wait() -> None:
    executor = SimExecutor("n")
    a, b = executor.controller(make_task("a")), executor.controller(make_task("b"))
    for control in (a, b):
        control.prepare()
        control.start()
    results: dict[str, object] = {}

    def wait(name: str, control: object) -> None:
        try:
            results[name] = control.wait().exit_code  # type: ignore[attr-defined]
        except EngineUnavailableError as exc:
            results[name] = exc

    threads = [threading.Thread(target=wait, args=x) for x in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    executor.exit("a", 7)
    b.close()
    for t in threads:
        t.join(5)
    assert results["a"] == 7 and isinstance(results["b"], EngineUnavailableError)


@pytest.mark.parametrize(
    ("kw", "error"), [({"start_delay": -1}, "start_delay"), ({"fail_rate": 2}, "fail_rate")]
)
def test_bad_settings_are_refused(kw: dict[str, float], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SimExecutor("n", **kw)  # type: ignore[arg-type]


def test_prepare_adopts_a_created_task_and_refuses_a_started_one() -> None:
    """As Docker's (``prepare_refuses_started``): a new task needs no inspect first."""
    executor = SimExecutor("n")
    assert executor.prepare_refuses_started
    control = executor.controller(make_task("t"))
    control.prepare()
    control.prepare()  # created, never started: adopted
    assert control.inspect().state is RuntimeState.CREATED
    control.start()
    with pytest.raises(ContainerExistsError):
        control.prepare()
    assert executor.running() == ["t"]
