"""Supervision trees for pykka actors.

Rules:
- A supervisor is given an ordered list of ``ChildSpec``s. It starts the autostart ones in
  that (dependency) order, each only after the previous one finished ``on_start``, and stops
  them in reverse order.
- A child that crashes (an unexpected exception in ``on_start``, in a told message, in a
  request it answers, or its thread ends without being asked to stop) is restarted as a NEW
  instance after an exponential backoff, ``Backoff.delay(attempt)``, where ``attempt``
  counts its crashes inside the spec's window. Other children keep running meanwhile.
- Policies: ``permanent`` always restarts, ``transient`` restarts only after a crash,
  ``temporary`` never restarts.
- More than ``max_restarts`` crashes inside ``window`` seconds escalates: the supervisor
  stops its children (reverse order) and fails itself, so its own supervisor sees a crash.
  A top-level supervisor reports the escalation through ``on_escalate``.
- A child restarted is a new ``ActorRef``: look peers up through ``Directory.get(name)``
  each time, never keep a ref across a restart.
- Time (``clock``) and the backoff timer (``timer``) are injected; tests never sleep.
- Every transition is a structured event: ``supervisor.child.started``, ``.crashed``,
  ``.restarted``, ``.stopped``, ``.exited``, ``supervisor.escalating``.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Protocol

import pykka
from pykka.messages import ProxyGetAttr

from actors.log import get_logger

__all__ = [
    "Backoff",
    "ChildContext",
    "ChildExit",
    "ChildSpec",
    "ChildState",
    "ChildStatus",
    "ChildUnavailable",
    "Directory",
    "EscalationError",
    "Restart",
    "SupervisedActor",
    "Supervisor",
    "ThreadTimer",
    "Timer",
    "start_actor",
]

Clock = Callable[[], float]
Cancel = Callable[[], None]


class Restart(enum.StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


class ChildState(enum.StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"


class EscalationError(RuntimeError):
    """A supervisor gave up on a child that kept crashing."""


class ChildUnavailable(LookupError):
    """The named child is declared but not running right now (restarting or stopped)."""


class ChildDied(RuntimeError):
    """A child's actor stopped without being asked to and without reporting an error."""


class Timer(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancel:
        """Run ``callback`` once after ``delay`` seconds; return a function that cancels it."""
        ...


class ThreadTimer:
    """The real timer: one daemon ``threading.Timer`` per call."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancel:
        timer = threading.Timer(delay, callback)
        timer.daemon = True
        timer.start()
        return timer.cancel


@dataclass(frozen=True)
class Backoff:
    """Delay before restart ``attempt`` (1-based): ``initial * factor**(attempt-1)``, capped."""

    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * self.factor ** max(0, attempt - 1)))


@dataclass(frozen=True)
class ChildExit:
    """Sent by a ``SupervisedActor`` to its supervisor when its thread ends (``error`` None
    when it stopped without an error)."""

    name: str
    incarnation: int
    error: BaseException | None


@dataclass(frozen=True)
class ChildContext:
    """What a supervisor hands each child instance it starts."""

    name: str
    incarnation: int
    peers: Directory
    report_exit: Callable[[ChildExit], None]
    clock: Clock = time.monotonic
    timer: Timer = field(default_factory=ThreadTimer)


@dataclass(frozen=True)
class ChildSpec:
    """A child declaration. ``start`` builds and starts one instance (see ``start_actor``)."""

    name: str
    start: Callable[[ChildContext], pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    max_restarts: int = 5
    window: float = 60.0
    backoff: Backoff = Backoff()
    autostart: bool = True
    start_timeout: float = 10.0
    stop_timeout: float = 5.0


def start_actor(
    actor_class: type[SupervisedActor], *args: Any, **kwargs: Any
) -> Callable[[ChildContext], pykka.ActorRef[Any]]:
    """A ``ChildSpec.start`` that runs ``actor_class.start(ctx, *args, **kwargs)``."""

    def start(ctx: ChildContext) -> pykka.ActorRef[Any]:
        return actor_class.start(ctx, *args, **kwargs)

    return start


@dataclass(frozen=True)
class ChildStatus:
    name: str
    state: ChildState
    restarts: int
    incarnation: int
    last_error: str | None


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

    # pykka 4 hooks (pinned <5 in setup.cfg): the loop, the stop, and failure handling.
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
            self.ctx.report_exit(ChildExit(self.ctx.name, self.ctx.incarnation, self._failure))
        else:
            self.on_unsupervised_exit(self._failure)

    def on_unsupervised_exit(self, error: BaseException | None) -> None:
        """Called when an actor with no supervisor ends; ``error`` is its crash, if any."""

    @property
    def peers(self) -> Directory:
        if self.ctx is None:
            raise ChildUnavailable(f"{self.child_name} has no supervisor")
        return self.ctx.peers


@dataclass(frozen=True)
class _RestartDue:
    name: str
    incarnation: int


@dataclass(frozen=True)
class _WatchTick:
    pass


@dataclass
class _Child:
    spec: ChildSpec
    state: ChildState = ChildState.STOPPED
    ref: pykka.ActorRef[Any] | None = None
    incarnation: int = 0
    restarts: int = 0
    crashes: deque[float] = field(default_factory=deque)
    last_error: BaseException | None = None
    cancel: Cancel | None = None


class _Exits:
    """Exit reports by (name, incarnation), readable while the supervisor is busy."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._exits: dict[tuple[str, int], BaseException | None] = {}

    def put(self, exit_: ChildExit) -> None:
        with self._cond:
            self._exits[(exit_.name, exit_.incarnation)] = exit_.error
            self._cond.notify_all()

    def wait(self, name: str, incarnation: int, timeout: float) -> BaseException | None:
        with self._cond:
            self._cond.wait_for(lambda: (name, incarnation) in self._exits, timeout)
            return self._exits.get((name, incarnation))

    def forget(self, name: str, incarnation: int) -> None:
        with self._cond:
            self._exits.pop((name, incarnation), None)


def _describe(error: BaseException | None) -> dict[str, str]:
    if error is None:
        return {}
    return {"exc_type": type(error).__name__, "exc_message": str(error)}


class Supervisor(SupervisedActor):
    """Runs declared children, restarts crashed ones, escalates crash loops.

    Use as a top-level actor (``ctx=None``, with ``on_escalate``) or as a child of another
    supervisor (``start_actor(Supervisor, children=[...], name="leader")``).
    """

    caller_errors = (ChildUnavailable,)

    def __init__(
        self,
        ctx: ChildContext | None,
        children: Sequence[ChildSpec],
        *,
        name: str | None = None,
        on_escalate: Callable[[BaseException], None] | None = None,
        clock: Clock | None = None,
        timer: Timer | None = None,
        watch_interval: float | None = 1.0,
    ) -> None:
        super().__init__(ctx)
        names = [spec.name for spec in children]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate child names in {names}")
        self.name = name or (ctx.name if ctx is not None else "root")
        self.child_name = self.name
        self.clock: Clock = clock or (ctx.clock if ctx is not None else time.monotonic)
        self.timer: Timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self.directory = Directory(names, ctx.peers if ctx is not None else None)
        self._order = names
        self._children = {spec.name: _Child(spec) for spec in children}
        self._on_escalate = on_escalate
        self._watch_interval = watch_interval
        self._watch_cancel: Cancel | None = None
        self._exits = _Exits()
        self.log = get_logger("supervisor", supervisor=self.name)

    # -- lifecycle ----------------------------------------------------------------------
    def on_start(self) -> None:
        for name in self._order:
            child = self._children[name]
            if child.spec.autostart:
                self._start(child)  # a failure here fails the supervisor: on_stop cleans up
        self._schedule_watch()
        self.log.info("supervisor.started", children=self._order)

    def on_stop(self) -> None:
        if self._watch_cancel is not None:
            self._watch_cancel()
        for name in reversed(self._order):
            self._stop_child(self._children[name])
        self.log.info("supervisor.stopped")

    def on_unsupervised_exit(self, error: BaseException | None) -> None:
        if error is not None and self._on_escalate is not None:
            self._on_escalate(error)

    # -- requests (ask through a proxy) ----------------------------------------------------
    def get(self, name: str) -> pykka.ActorRef[Any]:
        return self.directory.get(name)

    def status(self) -> tuple[ChildStatus, ...]:
        return tuple(
            ChildStatus(
                name=c.spec.name,
                state=c.state,
                restarts=c.restarts,
                incarnation=c.incarnation,
                last_error=None if c.last_error is None else repr(c.last_error),
            )
            for c in (self._children[n] for n in self._order)
        )

    def restart_counts(self) -> Mapping[str, int]:
        return {name: self._children[name].restarts for name in self._order}

    def start_child(self, name: str) -> None:
        """Start a declared child that is stopped (e.g. the leader-only group)."""
        child = self._lookup(name)
        if child.state is ChildState.STOPPED:
            child.crashes.clear()
            try:
                self._start(child)
            except Exception as exc:
                self._crashed(child, exc)

    def stop_child(self, name: str) -> None:
        """Stop a child and keep it stopped until ``start_child``."""
        self._stop_child(self._lookup(name))

    # -- events (told) ------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExit):
            self._on_exit(message)
        elif isinstance(message, _RestartDue):
            self._on_restart_due(message)
        elif isinstance(message, _WatchTick):
            self._on_watch()
        else:
            return super().on_receive(message)
        return None

    def _report(self, exit_: ChildExit) -> None:
        # Runs in the child's thread: record it for _start, then queue it for us.
        self._exits.put(exit_)
        self._tell_if_alive(exit_)

    def _on_exit(self, exit_: ChildExit) -> None:
        child = self._children.get(exit_.name)
        if (
            child is None
            or exit_.incarnation != child.incarnation
            or child.state is not ChildState.RUNNING
        ):
            self._exits.forget(exit_.name, exit_.incarnation)
            return
        self._exits.forget(exit_.name, exit_.incarnation)
        self._crashed(child, exit_.error)

    def _on_restart_due(self, due: _RestartDue) -> None:
        child = self._children[due.name]
        if child.state is not ChildState.BACKOFF or child.incarnation != due.incarnation:
            return
        child.cancel = None
        try:
            self._start(child)
        except Exception as exc:
            self._crashed(child, exc)
            return
        child.restarts += 1
        self.log.warning(
            "supervisor.child.restarted",
            child=child.spec.name,
            attempt=len(child.crashes),
            restarts=child.restarts,
            **_describe(child.last_error),
        )

    def _on_watch(self) -> None:
        # Plain pykka children cannot report their exit; notice them dying here.
        for name in self._order:
            child = self._children[name]
            ref = child.ref
            if (
                child.state is ChildState.RUNNING
                and ref is not None
                and not issubclass(ref.actor_class, SupervisedActor)
                and not ref.is_alive()
            ):
                self._crashed(child, ChildDied(f"{name} stopped unexpectedly"))
        self._schedule_watch()

    # -- mechanics ----------------------------------------------------------------------
    def _lookup(self, name: str) -> _Child:
        try:
            return self._children[name]
        except KeyError:
            raise ChildUnavailable(f"no child named {name!r}") from None

    def _start(self, child: _Child) -> None:
        spec = child.spec
        child.incarnation += 1
        incarnation = child.incarnation
        ctx = ChildContext(
            name=spec.name,
            incarnation=incarnation,
            peers=self.directory,
            report_exit=self._report,
            clock=self.clock,
            timer=self.timer,
        )
        ref = spec.start(ctx)
        try:
            # Answered only after on_start: the next child starts after this one is up.
            ref.ask(ProxyGetAttr(attr_path=("actor_urn",)), timeout=spec.start_timeout)
        except pykka.ActorDeadError:
            error = None
            if issubclass(ref.actor_class, SupervisedActor):  # it reports why it ended
                error = self._exits.wait(spec.name, incarnation, spec.start_timeout)
                self._exits.forget(spec.name, incarnation)
            raise error or ChildDied(f"{spec.name} stopped while starting") from None
        except pykka.Timeout:
            ref.stop(block=False)
            raise TimeoutError(f"{spec.name} did not start within {spec.start_timeout}s") from None
        child.ref = ref
        child.state = ChildState.RUNNING
        self.directory._set(spec.name, ref)
        self.log.info("supervisor.child.started", child=spec.name, incarnation=incarnation)

    def _stop_child(self, child: _Child) -> None:
        if child.cancel is not None:
            child.cancel()
            child.cancel = None
        ref, child.ref = child.ref, None
        self.directory._discard(child.spec.name)
        if child.state is ChildState.RUNNING and ref is not None:
            child.state = ChildState.STOPPING
            try:
                ref.stop(block=True, timeout=child.spec.stop_timeout)
                self.log.info("supervisor.child.stopped", child=child.spec.name)
            except pykka.Timeout:
                self.log.error(
                    "supervisor.child.stop_timeout",
                    child=child.spec.name,
                    timeout=child.spec.stop_timeout,
                )
        child.state = ChildState.STOPPED

    def _crashed(self, child: _Child, error: BaseException | None) -> None:
        spec = child.spec
        child.ref = None
        self.directory._discard(spec.name)
        if error is not None:
            child.last_error = error
        if spec.restart is Restart.TEMPORARY or (
            spec.restart is Restart.TRANSIENT and error is None
        ):
            child.state = ChildState.STOPPED
            self.log.info("supervisor.child.exited", child=spec.name, **_describe(error))
            return
        now = self.clock()
        child.crashes.append(now)
        while child.crashes and child.crashes[0] < now - spec.window:
            child.crashes.popleft()
        failure = error or ChildDied(f"{spec.name} stopped unexpectedly")
        if len(child.crashes) > spec.max_restarts:
            child.state = ChildState.STOPPED
            self.log.error(
                "supervisor.escalating",
                child=spec.name,
                crashes=len(child.crashes),
                window=spec.window,
                **_describe(failure),
            )
            raise EscalationError(
                f"supervisor {self.name!r}: child {spec.name!r} crashed {len(child.crashes)} "
                f"times within {spec.window:g}s (last: {type(failure).__name__}: {failure})"
            ) from failure
        attempt = len(child.crashes)
        delay = spec.backoff.delay(attempt)
        child.state = ChildState.BACKOFF
        self.log.warning(
            "supervisor.child.crashed",
            child=spec.name,
            attempt=attempt,
            delay=delay,
            **_describe(failure),
        )
        due = _RestartDue(spec.name, child.incarnation)
        child.cancel = self.timer.call_later(delay, lambda: self._tell_if_alive(due))

    def _tell_if_alive(self, message: object) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(message)

    def _schedule_watch(self) -> None:
        if self._watch_interval is not None and not self.actor_stopped.is_set():
            self._watch_cancel = self.timer.call_later(
                self._watch_interval, lambda: self._tell_if_alive(_WatchTick())
            )
