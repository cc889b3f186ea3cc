"""The shared shells: durable writes, backoff, periodic actors."""

from __future__ import annotations

import os
import random
import stat
import threading
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from actors import durable
from actors.backoff import Backoff
from actors.periodic import PeriodicActor
from actors.supervised import ChildContext, Directory
from actors.supervisor import ChildSpec, ChildState, Restart, Supervisor
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for

# -- durable writes ----------------------------------------------------------------------


def test_write_durable_replaces_the_file_with_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o644)
    durable.write_durable(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_write_durable_writes_every_byte_of_short_writes(tmp_path: Path) -> None:
    real_write = os.write

    def short(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data)[:3])  # the kernel may write fewer bytes

    with mock.patch("actors.durable.os.write", side_effect=short):
        durable.write_durable(tmp_path / "f", b"0123456789")
    assert (tmp_path / "f").read_bytes() == b"0123456789"


def test_write_durable_fsyncs_file_then_directory(tmp_path: Path) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    def replace(a: Any, b: Any) -> None:
        calls.append("rename")
        real_replace(a, b)

    with (
        mock.patch("actors.durable.os.fsync", side_effect=fsync),
        mock.patch("actors.durable.os.replace", side_effect=replace),
    ):
        durable.write_durable(tmp_path / "f", b"x")
    assert calls == ["file", "rename", "dir"]


def test_a_failed_write_leaves_the_old_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with (
        mock.patch("actors.durable.os.fsync", side_effect=OSError(28, "No space left")),
        pytest.raises(OSError, match="No space"),
    ):
        durable.write_durable(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_left_over_temp_file_is_reset_to_the_wanted_mode(tmp_path: Path) -> None:
    leftover = tmp_path / ".f.tmp"
    leftover.write_bytes(b"junk")
    leftover.chmod(0o666)
    durable.write_durable(tmp_path / "f", b"x")
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


# -- backoff -----------------------------------------------------------------------------


def test_backoff_doubles_up_to_its_cap() -> None:
    b = Backoff(initial=0.5, maximum=4.0)
    assert [b.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert b.delay(10_000) == 4.0  # no overflow


def test_backoff_jitter_stays_within_its_spread_and_is_seeded() -> None:
    b = Backoff(initial=1.0, maximum=1.0, jitter=0.2)
    delays = [b.delay(1, random.Random(seed)) for seed in range(200)]
    assert all(0.8 <= d <= 1.2 for d in delays)
    assert len(set(delays)) > 100
    assert b.delay(1, random.Random(7)) == b.delay(1, random.Random(7))
    assert b.delay(1) == 1.0  # no rng: no jitter


@pytest.mark.parametrize(
    "kwargs", [{"initial": -1.0}, {"maximum": 0.01}, {"factor": 0.5}, {"jitter": 1.0}]
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


# -- periodic actors ---------------------------------------------------------------------


class Job:
    def __init__(self, every: float = 5.0, fail_on: int = 0) -> None:
        self.every = every
        self.fail_on = fail_on
        self.ticks: list[float] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def interval(self) -> float:
        return self.every

    def tick(self, now: float) -> None:
        with self.lock:
            self.ticks.append(now)
            self.threads.add(threading.current_thread().name)
            count = len(self.ticks)
        if count == self.fail_on:
            raise RuntimeError("tick failed")


def context(timer: ManualTimer) -> ChildContext:
    return ChildContext(
        "job", 1, Directory(["job"]), lambda _exit: None, clock=timer.clock, timer=timer
    )


def test_periodic_actor_ticks_on_the_manual_timer_on_its_own_thread() -> None:
    timer = ManualTimer(ManualClock(100.0))
    job = Job(every=5.0)
    ref = PeriodicActor.start(context(timer), job)
    try:
        assert timer.delays == [5.0]
        assert timer.advance(4.9) == 0
        timer.advance(0.1)
        wait_for(lambda: job.ticks == [105.0], "the first tick")
        wait_for(lambda: len(timer.delays) == 2, "the next tick scheduled after it")
        timer.advance(5.0)
        wait_for(lambda: job.ticks == [105.0, 110.0], "the second tick")
        assert len(job.threads) == 1 and threading.current_thread().name not in job.threads
    finally:
        ref.stop()
    assert not timer.has_pending()  # stopping cancels the next tick


def test_poke_ticks_at_once_and_restarts_the_wait() -> None:
    timer = ManualTimer()
    job = Job(every=60.0)
    ref = PeriodicActor.start(context(timer), job, first_delay=0.0)
    try:
        timer.advance(0)
        wait_for(lambda: len(job.ticks) == 1, "the tick at start")
        ref.proxy().poke().get(timeout=5)
        wait_for(lambda: len(job.ticks) == 2, "the poked tick")
        wait_for(lambda: len(timer.pending) == 1, "one tick pending, not two")
    finally:
        ref.stop()


def test_a_failing_tick_is_a_crash_that_the_supervisor_restarts() -> None:
    timer = ManualTimer()
    job = Job(every=1.0, fail_on=1)
    spec = ChildSpec(
        "job", lambda ctx: PeriodicActor.start(ctx, job, first_delay=0.0), restart=Restart.PERMANENT
    )
    ref = Supervisor.start(None, [spec], name="test", clock=timer.clock, timer=timer)
    supervisor = ref.proxy()
    try:
        # Fire the first tick only once the supervisor holds the child as running (a crash
        # while it is still starting would be a start failure, not a restart).
        wait_for(lambda: supervisor.status().get(timeout=5)[0].state is ChildState.RUNNING)
        timer.advance(0.0)
        wait_for(lambda: job.ticks, "the failing tick")
        # then each advance fires what is due: the restart after the supervisor's backoff,
        # then the new incarnation's first tick
        wait_for(lambda: timer.advance(1.0) >= 0 and len(job.ticks) >= 2, "a tick after restart")
        assert supervisor.restart_counts().get(timeout=5)["job"] >= 1
    finally:
        ref.stop()


# -- an asyncio loop on a thread of its own ----------------------------------------------


def _loop_ending(serve_error: BaseException | None, *, start: bool) -> dict[str, Any]:
    """Run ``run_loop`` on a thread: the loop signals its start (or not), then ends with
    ``serve_error`` (or stops cleanly); what the owner saw."""
    import asyncio
    from concurrent.futures import Future

    from actors.loop_thread import run_loop

    seen: dict[str, Any] = {"cleaned": False, "exits": []}
    started: Future[None] = Future()
    loop = asyncio.new_event_loop()

    async def cleanup() -> None:
        seen["cleaned"] = True

    def serve() -> None:
        async def body() -> None:
            if start:
                started.set_result(None)
            if serve_error is not None:
                raise serve_error

        loop.run_until_complete(body())

    thread = threading.Thread(
        target=run_loop,
        args=(loop, serve, cleanup, started, lambda: RuntimeError("ended at start"),
              seen["exits"].append),
    )  # fmt: skip
    thread.start()
    thread.join(10)
    seen["closed"] = loop.is_closed()
    seen["start"] = started.exception(timeout=0) if started.done() else "pending"
    return seen


def test_a_loop_that_ends_before_its_start_fails_the_start_and_reports_no_exit() -> None:
    seen = _loop_ending(OSError("address in use"), start=False)
    assert isinstance(seen["start"], OSError) and seen["exits"] == []
    assert seen["cleaned"] and seen["closed"]
    assert str(_loop_ending(None, start=False)["start"]) == "ended at start"


def test_a_loop_that_ends_after_its_start_is_reported_to_the_owner() -> None:
    boom = RuntimeError("boom")
    seen = _loop_ending(boom, start=True)
    assert seen["start"] is None and seen["exits"] == [boom]
    assert seen["cleaned"] and seen["closed"]
    assert _loop_ending(None, start=True)["exits"] == [None]
