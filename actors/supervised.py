"""What a child of a ``Supervisor`` (actors/supervisor.py) sees: the ``ChildContext`` it is
started with, the ``Directory`` it finds its peers in, and ``SupervisedActor``, its base.

Rules:
- A ``SupervisedActor`` takes its ``ChildContext`` as its first constructor argument. When
  its thread ends, crash or not, ``on_stop`` runs (once) and a ``ChildExit`` is reported to
  the supervisor through ``ctx.report_exit``; an actor with no supervisor gets
  ``on_unsupervised_exit`` instead.
- A child restarted is a new ``ActorRef``: look peers up through ``Directory.get(name)``
  each time, never keep a ref across a restart.
- Time (``ctx.clock``) and timers (``ctx.timer``) come from the supervisor; tests inject
  manual ones and never sleep.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Protocol

import pykka

from actors.log import get_logger

__all__ = [
    "Cancel",
    "ChildContext",
    "ChildExit",
    "ChildUnavailable",
    "Clock",
    "Directory",
    "SupervisedActor",
    "ThreadTimer",
    "Timer",
]

Clock = Callable[[], float]
Cancel = Callable[[], None]


class ChildUnavailable(LookupError):
    """The named child is declared but not running right now (restarting or stopped)."""


class Timer(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancel:
        """Run ``callback`` once after ``delay`` seconds; return a function that cancels it."""
        ...


class _Due:
    """One pending ``call_later``: cancelled by clearing its callback."""

    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None] | None) -> None:
        self.callback = callback

    def cancel(self) -> None:
        self.callback = None


class _TimerThread:
    """Every real timer of the process on one daemon thread: a heap of due times. (A
    ``threading.Timer`` per call cost a thread start per tick of every periodic actor:
    dozens a second on a manager.)"""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Due]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, delay: float, callback: Callable[[], None]) -> Cancel:
        due = _Due(callback)
        at = time.monotonic() + max(0.0, delay)
        with self._cond:
            heapq.heappush(self._heap, (at, next(self._seq), due))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is due:
                self._cond.notify()
        return due.cancel

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        callback = heapq.heappop(self._heap)[2].callback
                        if callback is not None:
                            break
                        continue
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            try:
                callback()
            except Exception as exc:  # a timer's owner is gone or broken: not ours to die of
                get_logger("supervisor").error("timer.callback.failed", error=repr(exc)[:200])


_TIMERS = _TimerThread()


class ThreadTimer:
    """The real timer. Callbacks run on one thread shared by every timer of the process, so
    a callback must be quick (tell an actor a message) and must not block."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancel:
        return _TIMERS.add(delay, callback)


@dataclass(frozen=True)
class ChildExit:
    """Sent by a ``SupervisedActor`` to its supervisor when its thread ends (``error`` None
    when it stopped without an error)."""

    name: str
    incarnation: int
    error: BaseException | None
    started: bool = False  # on_start had completed: a crash, not a failed start


@dataclass(frozen=True)
class ChildContext:
    """What a supervisor hands each child instance it starts."""

    name: str
    incarnation: int
    peers: Directory
    report_exit: Callable[[ChildExit], None]
    clock: Clock = time.monotonic
    timer: Timer = field(default_factory=ThreadTimer)
    # Set when the instance has completely ended (on_stop done, exit reported); pykka's
    # actor_stopped is set before on_stop runs.
    finished: threading.Event = field(default_factory=threading.Event)


class Directory:
    """Thread-safe name → current ``ActorRef`` for one supervisor's children.

    Names not declared here are looked up in the parent supervisor's directory, so a child
    of a nested supervisor finds its uncles (the store, the Raft node) the same way.
    """

    def __init__(self, names: Sequence[str], parent: Directory | None = None) -> None:
        self._names = frozenset(names)
        self._parent = parent
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> pykka.ActorRef[Any]:
        """The current ref of ``name``; ``ChildUnavailable`` while it is down."""
        if name not in self._names:
            if self._parent is None:
                raise ChildUnavailable(f"no child named {name!r}")
            return self._parent.get(name)
        with self._lock:
            ref = self._refs.get(name)
        if ref is None or not ref.is_alive():
            raise ChildUnavailable(f"{name!r} is not running")
        return ref

    def find(self, name: str) -> pykka.ActorRef[Any] | None:
        try:
            return self.get(name)
        except ChildUnavailable:
            return None

    def _set(self, name: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            self._refs[name] = ref

    def _discard(self, name: str) -> None:
        with self._lock:
            self._refs.pop(name, None)


class SupervisedActor(pykka.ThreadingActor):
    """Base class for actors a ``Supervisor`` runs.

    Subclasses take the ``ChildContext`` as their first constructor argument and pass it to
    ``super().__init__``. ``on_stop`` runs on every exit, crash included, so it is where
    sockets and threads are closed (it must tolerate a half-done ``on_start``). Exceptions
    listed in ``caller_errors`` raised while answering a request go back to the asker and
    are not crashes; any other exception is a crash (the asker gets it too).
    """

    caller_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, ctx: ChildContext | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.child_name = ctx.name if ctx is not None else type(self).__name__
        self._failure: BaseException | None = None
        self._on_stop_ran = False
        self._started = False

    # pykka 4 hooks (pinned <5 in setup.cfg): the loop, the stop, and failure handling.
    def _actor_loop_setup(self) -> None:
        super()._actor_loop_setup()
        self._started = self._failure is None

    def _actor_loop(self) -> None:
        try:
            super()._actor_loop()
        finally:
            self._after_exit()

    def _stop(self) -> None:
        self._on_stop_ran = True
        super()._stop()

    def _handle_receive(self, message: Any) -> Any:
        try:
            return super()._handle_receive(message)
        except self.caller_errors:
            raise
        except Exception:
            self._handle_failure(*sys.exc_info())
            raise

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._failure is None:
            self._failure = exception_value
            get_logger("supervisor").error(
                "actor.crashed",
                child=self.child_name,
                exc_info=(exception_type, exception_value, traceback),
            )
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()

    def _after_exit(self) -> None:
        if not self._on_stop_ran:
            self._on_stop_ran = True
            try:
                self.on_stop()
            except Exception as exc:
                get_logger("supervisor").error(
                    "actor.cleanup.failed", child=self.child_name, exc_info=exc
                )
        if self.ctx is not None:
            self.ctx.report_exit(
                ChildExit(self.ctx.name, self.ctx.incarnation, self._failure, self._started)
            )
            self.ctx.finished.set()
        else:
            self.on_unsupervised_exit(self._failure)

    def on_unsupervised_exit(self, error: BaseException | None) -> None:
        """Called when an actor with no supervisor ends; ``error`` is its crash, if any."""

    @property
    def peers(self) -> Directory:
        if self.ctx is None:
            raise ChildUnavailable(f"{self.child_name} has no supervisor")
        return self.ctx.peers
