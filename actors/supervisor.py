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

The child's side (``SupervisedActor``, ``ChildContext``, ``Directory``, timers) lives in
actors/supervised.py; its public names are re-exported here.
"""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka
from pykka.messages import ProxyGetAttr

from actors.backoff import Backoff
from actors.log import get_logger
from actors.metrics import supervisor as metrics
from actors.supervised import (
    Cancel,
    ChildContext,
    ChildExit,
    ChildUnavailable,
    Clock,
    Directory,
    SupervisedActor,
    ThreadTimer,
    Timer,
)

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
    "PreviousIncarnationAlive",
    "Restart",
    "SupervisedActor",
    "Supervisor",
    "ThreadTimer",
    "Timer",
    "start_actor",
    "start_bound",
    "stop_bound",
]


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


class ChildDied(RuntimeError):
    """A child's actor stopped without being asked to and without reporting an error."""


class PreviousIncarnationAlive(RuntimeError):
    """A child's earlier instance has not stopped yet: a new one would run beside it."""


@dataclass(frozen=True)
class ChildSpec:
    """A child declaration. ``start`` builds and starts one instance (see ``start_actor``)."""

    name: str
    start: Callable[[ChildContext], pykka.ActorRef[Any]]
    restart: Restart = Restart.PERMANENT
    max_restarts: int = 5
    window: float = 60.0
    backoff: Backoff = field(default_factory=Backoff)
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


def start_bound(children: Sequence[ChildSpec]) -> float:
    """The longest a supervisor over ``children`` takes to start them, and so the longest
    a request queued behind its start waits: each child in turn, at most its
    ``start_timeout`` (a child that overruns fails the start with its own error). A child
    not started at once (``autostart=False``) counts too: a ``start_child`` queued ahead
    of the request is served first."""
    return sum(spec.start_timeout for spec in children)


def stop_bound(children: Sequence[ChildSpec]) -> float:
    """The longest a supervisor over ``children`` takes to stop once its stop message is
    taken: it waits for each child at most its ``stop_timeout``, once, in reverse order
    (a child that overruns is left to finish on its own). A stop queued behind a start
    in progress waits for that start too."""
    return sum(spec.stop_timeout for spec in children)


@dataclass(frozen=True)
class ChildStatus:
    name: str
    state: ChildState
    restarts: int
    incarnation: int
    last_error: str | None


@dataclass(frozen=True)
class _RestartDue:
    name: str
    incarnation: int
    # A start put off because an earlier instance was still stopping: not a restart.
    deferred: bool = False


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
    # Earlier instances told to stop that had not stopped in time: a new instance waits
    # for them, or two schedulers (say) would book the same resources.
    lingering: list[threading.Event] = field(default_factory=list)
    finished: threading.Event | None = None  # the running instance's (see _ended)


class _Exits:
    """Exit reports by (name, incarnation), readable while the supervisor is busy."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._exits: dict[tuple[str, int], ChildExit] = {}

    def put(self, exit_: ChildExit) -> None:
        with self._cond:
            self._exits[(exit_.name, exit_.incarnation)] = exit_
            self._cond.notify_all()

    def wait(self, name: str, incarnation: int, timeout: float) -> ChildExit | None:
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
            except PreviousIncarnationAlive as exc:
                self._defer_start(child, exc)
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
        except PreviousIncarnationAlive as exc:
            self._defer_start(child, exc, deferred=due.deferred)
            return
        except Exception as exc:
            self._crashed(child, exc)
            return
        if due.deferred:
            return
        child.restarts += 1
        metrics.RESTARTS.labels(self.name, child.spec.name).inc()
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
        self._await_lingering(child)
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
            exit_ = None
            if issubclass(ref.actor_class, SupervisedActor):  # it reports why it ended
                exit_ = self._exits.wait(spec.name, incarnation, spec.start_timeout)
                self._exits.forget(spec.name, incarnation)
            if exit_ is not None and exit_.started:
                # on_start had succeeded and a first message crashed it before our check
                # got through: that is a crash to restart, not a start that failed.
                child.state = ChildState.RUNNING
                self._crashed(child, exit_.error)
                return
            error = exit_.error if exit_ is not None else None
            raise error or ChildDied(f"{spec.name} stopped while starting") from None
        except pykka.Timeout:
            ref.stop(block=False)
            child.lingering.append(ctx.finished if self._reports(ref) else ref.actor_stopped)
            raise TimeoutError(f"{spec.name} did not start within {spec.start_timeout}s") from None
        child.ref = ref
        child.finished = ctx.finished
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
                child.lingering.append(self._ended(child, ref))
                self.log.error(
                    "supervisor.child.stop_timeout",
                    child=child.spec.name,
                    timeout=child.spec.stop_timeout,
                )
        child.state = ChildState.STOPPED

    def _await_lingering(self, child: _Child) -> None:
        """Wait (up to a stop timeout each) for earlier instances still stopping."""
        for ended in child.lingering:
            ended.wait(child.spec.stop_timeout)
        child.lingering = [ended for ended in child.lingering if not ended.is_set()]
        if child.lingering:
            raise PreviousIncarnationAlive(
                f"{child.spec.name}: {len(child.lingering)} earlier instance(s) still stopping"
            )

    @staticmethod
    def _reports(ref: pykka.ActorRef[Any]) -> bool:
        return issubclass(ref.actor_class, SupervisedActor)

    def _ended(self, child: _Child, ref: pykka.ActorRef[Any]) -> threading.Event:
        """What is set once ``ref`` has completely ended: a SupervisedActor's context says
        so after its on_stop; a plain pykka actor only says it has begun to stop."""
        if self._reports(ref) and child.finished is not None:
            return child.finished
        return ref.actor_stopped

    def _defer_start(
        self, child: _Child, reason: PreviousIncarnationAlive, *, deferred: bool = True
    ) -> None:
        # Not a crash: nothing new failed, an old instance is slow to finish. Try again
        # after the first backoff step without counting towards escalation.
        child.state = ChildState.BACKOFF
        delay = child.spec.backoff.delay(1)
        self.log.warning(
            "supervisor.child.start_deferred",
            child=child.spec.name,
            delay=delay,
            reason=str(reason),
        )
        due = _RestartDue(child.spec.name, child.incarnation, deferred=deferred)
        child.cancel = self.timer.call_later(delay, lambda: self._tell_if_alive(due))

    def _crashed(self, child: _Child, error: BaseException | None) -> None:
        spec = child.spec
        if child.ref is not None:  # it may still be on its way out
            child.lingering.append(self._ended(child, child.ref))
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
        metrics.CRASHES.labels(self.name, spec.name).inc()
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
