"""The process executor's one reaper, with real processes: a child's end and an adopted
(not our child) process's end are noticed through pidfds; where the kernel has none, by
polling; watches fire once; the thread lives only while something is watched; a failure
ends every watch with the error."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator

import pytest

from actors.worker.executors.process_reaper import ProcessReaper
from tests.support.waiting import wait_for


def reaper_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "process-reaper")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(["sleep", "300"])
    yield child
    child.kill()
    child.wait()


class Woken:
    def __init__(self) -> None:
        self.calls: list[BaseException | None] = []

    def __call__(self, error: BaseException | None) -> None:
        self.calls.append(error)


def running(child: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: child.poll() is None


def test_a_childs_end_fires_its_watch_once(sleeper: subprocess.Popen[bytes]) -> None:
    before = reaper_threads()
    reaper = ProcessReaper()
    woken = Woken()
    key = reaper.add("t1", sleeper.pid, running(sleeper), woken)
    assert reaper_threads() == before + 1
    sleeper.kill()
    wait_for(lambda: woken.calls == [None], what="the end noticed")
    reaper.wake(key)  # fired already: nothing more
    assert woken.calls == [None]
    wait_for(lambda: reaper_threads() == before, what="the thread gone, nothing watched")


def test_an_adopted_process_that_is_not_our_child_is_watched_too() -> None:
    # a grandchild: its parent exits, so it is not this process's child
    out = subprocess.run(
        ["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"], capture_output=True, check=True
    )
    pid = int(out.stdout)
    reaper = ProcessReaper()
    woken = Woken()
    reaper.add("t1", pid, lambda: os.path.exists(f"/proc/{pid}"), woken)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: woken.calls == [None], what="the end noticed")


def test_cancel_is_silent_and_wake_task_fires_that_tasks_watches(
    sleeper: subprocess.Popen[bytes],
) -> None:
    reaper = ProcessReaper()
    cancelled, first, second = Woken(), Woken(), Woken()
    key = reaper.add("t1", sleeper.pid, running(sleeper), cancelled)
    reaper.cancel(key)
    reaper.add("t2", sleeper.pid, running(sleeper), first)
    other = Woken()
    reaper.add("t3", sleeper.pid, running(sleeper), other)
    reaper.add("t2", sleeper.pid, running(sleeper), second)
    reaper.wake_task("t2")  # an unhealthy task
    assert (first.calls, second.calls) == ([None], [None])
    assert reaper.watching() == 1
    sleeper.kill()
    wait_for(lambda: other.calls == [None], what="the end noticed")
    assert cancelled.calls == []


def test_without_pidfds_processes_are_polled(sleeper: subprocess.Popen[bytes]) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open")

    reaper = ProcessReaper(open_pidfd=no_pidfd)
    woken = Woken()
    reaper.add("t1", sleeper.pid, running(sleeper), woken)
    sleeper.kill()
    wait_for(lambda: woken.calls == [None], what="the end noticed by polling")


def test_a_failure_ends_every_watch_with_the_error(sleeper: subprocess.Popen[bytes]) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open")

    def bug() -> bool:
        raise RuntimeError("a bug in alive")

    before = reaper_threads()
    reaper = ProcessReaper(open_pidfd=no_pidfd)
    broken, other = Woken(), Woken()
    reaper.add("t1", sleeper.pid, bug, broken)
    reaper.add("t2", sleeper.pid, running(sleeper), other)
    wait_for(lambda: broken.calls and other.calls, what="both watches ended")
    assert isinstance(broken.calls[0], RuntimeError) and broken.calls == other.calls
    wait_for(lambda: reaper_threads() == before, what="the failed thread gone")
    again = Woken()
    reaper.add("t2", sleeper.pid, running(sleeper), again)  # a new thread
    sleeper.kill()
    wait_for(lambda: again.calls == [None], what="watching resumed")
