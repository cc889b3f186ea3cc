"""The simulated executor's knobs: start delay, failure rate, exit on demand, watches."""

from __future__ import annotations

import random

import pytest

from actors.worker.executors.base import (
    ContainerExistsError,
    ContainerNotFoundError,
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
    woken: list[object] = []
    control.watch(woken.append)  # exited already: notified at once
    assert woken == [None]
    result = control.exit_result()
    assert result is not None and result.exit_code == FAILED_EXIT_CODE
    assert exits == [("t", FAILED_EXIT_CODE)]


def test_watches_fire_on_exit_and_removal_and_close_cancels_one() -> None:
    executor = SimExecutor("n")
    a, b, c = (executor.controller(make_task(name)) for name in "abc")
    for control in (a, b, c):
        control.prepare()
        control.start()
    woken: list[str] = []
    for name, control in (("a", a), ("b", b), ("c", c)):
        control.watch(lambda error, name=name: woken.append(name))
    assert a.exit_result() is None  # still running
    executor.exit("a", 7)
    b.close()
    executor.exit("b", 0)
    executor.forget("c")
    assert woken == ["a", "c"]
    result = a.exit_result()
    assert result is not None and result.exit_code == 7
    with pytest.raises(ContainerNotFoundError):
        c.exit_result()


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
