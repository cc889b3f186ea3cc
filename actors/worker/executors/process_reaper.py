"""The process executor's one watch over its running tasks: a thread that waits on every
watched task's process at once and tells each watch when its process ended.

Rules:
- One thread per executor, and only while something is watched: it starts with the first
  watch and ends when none is left. A running task holds no thread of its own (a wait
  polling ``/proc`` per task did).
- A watched process is waited on through a pidfd (``pidfd_open``, Linux 5.3): readable
  once the process ended, whether it is this process's child or a group a restarted
  worker adopted. The pidfd is opened before the caller checks that the pid is still its
  task's (start time), so a pid reused later is never mistaken for it. Where the kernel
  has no pidfd, the thread asks ``alive`` every ``POLL`` seconds instead.
- A watch fires once (``notify(None)``), also when ``wake`` is called (the controller's
  own look) or ``wake_task`` for its task (a failed healthcheck), and is removed;
  ``cancel`` removes it silently. Notifies run on the reaper's thread (or the waker's),
  outside its lock, and must not block.
- Every pidfd is closed on the reaper's thread, once its watch is gone.
- A failure of the thread (a bug) fires every watch with the error (each task runner
  crashes on it and is restarted, watching again on a new thread): never a silent end of
  every wait.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import threading
from collections.abc import Callable
from dataclasses import dataclass

from actors.log import get_logger
from actors.worker.executors.base import ExitNotify

__all__ = ["POLL", "ProcessReaper"]

POLL = 0.1  # seconds between ``alive`` checks of processes without a pidfd


@dataclass(frozen=True, slots=True)
class _Watch:
    task_id: str
    alive: Callable[[], bool]
    notify: ExitNotify
    pidfd: int | None  # None: polled


class ProcessReaper:
    def __init__(self, *, open_pidfd: Callable[[int], int] = os.pidfd_open) -> None:
        self._open_pidfd = open_pidfd
        self._lock = threading.Lock()
        self._watches: dict[int, _Watch] = {}
        self._pidfds: dict[int, int] = {}  # key → pidfd, until the thread closes it
        self._keys = 0
        self._thread: threading.Thread | None = None
        self._poke: int | None = None  # write end of the thread's wake-up pipe

    def add(self, task_id: str, pid: int, alive: Callable[[], bool], notify: ExitNotify) -> int:
        """Watch task ``task_id``'s process ``pid`` (then check ``alive()``: the pid may be
        reused already); ``notify`` is called once when it ended. The watch's key."""
        pidfd = self._pidfd(pid)
        with self._lock:
            self._keys += 1
            key = self._keys
            self._watches[key] = _Watch(task_id, alive, notify, pidfd)
            if pidfd is not None:
                self._pidfds[key] = pidfd
            if self._thread is None:
                read_end, self._poke = os.pipe()
                os.set_blocking(read_end, False)
                os.set_blocking(self._poke, False)
                self._thread = threading.Thread(
                    target=self._run, args=(read_end,), name="process-reaper", daemon=True
                )
                self._thread.start()
            else:
                self._wake_thread()
        return key

    def cancel(self, key: int) -> None:
        self._take(key)

    def wake(self, key: int) -> None:
        """Fire watch ``key`` now, unless it fired already."""
        watch = self._take(key)
        if watch is not None:
            watch.notify(None)

    def wake_task(self, task_id: str) -> None:
        """Fire the watches of task ``task_id`` now."""
        with self._lock:
            keys = [k for k, w in self._watches.items() if w.task_id == task_id]
        for key in keys:
            self.wake(key)

    def watching(self) -> int:
        with self._lock:
            return len(self._watches)

    def _pidfd(self, pid: int) -> int | None:
        if pid <= 0:
            return None  # never started: ``alive`` says so
        try:
            return self._open_pidfd(pid)
        except ProcessLookupError:
            return None  # gone already: the caller's check of ``alive`` tells
        except OSError as exc:
            if exc.errno in (errno.ENOSYS, errno.EPERM):  # no pidfd here (or seccomp)
                return None
            raise

    def _take(self, key: int) -> _Watch | None:
        with self._lock:
            watch = self._watches.pop(key, None)
            if watch is not None:
                self._wake_thread()  # to close its pidfd, or end
            return watch

    def _wake_thread(self) -> None:
        """Under the lock."""
        if self._poke is not None:
            with contextlib.suppress(BlockingIOError):
                os.write(self._poke, b"x")

    # -- the thread ---------------------------------------------------------------------
    def _run(self, read_end: int) -> None:
        selector = selectors.DefaultSelector()
        selector.register(read_end, selectors.EVENT_READ)
        registered: dict[int, int] = {}  # pidfd → key
        try:
            self._reap(selector, read_end, registered)
        except Exception as exc:
            self._fail(exc, selector, registered)
        finally:
            selector.close()
            os.close(read_end)

    def _reap(
        self, selector: selectors.BaseSelector, read_end: int, registered: dict[int, int]
    ) -> None:
        while True:
            with self._lock:
                self._close_unwatched(selector, registered)
                if not self._watches:
                    self._end_thread()
                    return
                for key, pidfd in self._pidfds.items():
                    if pidfd not in registered:
                        selector.register(pidfd, selectors.EVENT_READ)
                        registered[pidfd] = key
                polled = [(k, w) for k, w in self._watches.items() if w.pidfd is None]
            ready = selector.select(POLL if polled else None)
            ended = [registered[k.fd] for k, _ in ready if k.fd in registered]
            if any(k.fd == read_end for k, _ in ready):
                with contextlib.suppress(BlockingIOError):
                    os.read(read_end, 4096)
            ended += [k for k, w in polled if not w.alive()]
            for key in ended:
                self.wake(key)

    def _end_thread(self) -> None:
        """Under the lock: the thread is ending; the next watch starts another."""
        self._thread = None
        poke, self._poke = self._poke, None
        if poke is not None:
            os.close(poke)

    def _fail(
        self, error: Exception, selector: selectors.BaseSelector, registered: dict[int, int]
    ) -> None:
        get_logger("worker", executor="process").error(
            "worker.process.reaper.failed", error=f"{type(error).__name__}: {error}"
        )
        with self._lock:
            fired = list(self._watches.values())
            self._watches.clear()
            self._close_unwatched(selector, registered)
            self._end_thread()
        for watch in fired:
            watch.notify(error)

    def _close_unwatched(
        self, selector: selectors.BaseSelector, registered: dict[int, int]
    ) -> None:
        """Under the lock: close the pidfds whose watch is gone."""
        for key in [k for k in self._pidfds if k not in self._watches]:
            pidfd = self._pidfds.pop(key)
            if registered.pop(pidfd, None) is not None:
                selector.unregister(pidfd)
            os.close(pidfd)
