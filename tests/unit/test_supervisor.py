"""Supervision: restarts as new instances, backoff, escalation, ordering, nesting."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pykka
import pytest

from actors import log
from actors.metrics.registry import REGISTRY
from actors.supervisor import (
    Backoff,
    ChildContext,
    ChildSpec,
    ChildState,
    ChildUnavailable,
    EscalationError,
    Restart,
    SupervisedActor,
    Supervisor,
    start_actor,
)
from tests.support.clocks import ManualClock, ManualTimer
from tests.support.waiting import wait_for

DEADLINE = 10.0


class Journal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[str] = []

    def add(self, entry: str) -> None:
        with self._lock:
            self.entries.append(entry)


class Worker(SupervisedActor):
    caller_errors = (KeyError,)

    def __init__(self, ctx: ChildContext, journal: Journal, fail_start: bool = False) -> None:
        super().__init__(ctx)
        self.journal = journal
        self.fail_start = fail_start

    def on_start(self) -> None:
        self.journal.add(f"start:{self.child_name}")
        if self.fail_start:
            raise OSError("cannot bind")

    def on_stop(self) -> None:
        self.journal.add(f"stop:{self.child_name}")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("boom")
        return super().on_receive(message)

    def ping(self) -> str:
        return self.actor_urn

    def fail_request(self) -> None:
        raise ValueError("bad state")

    def caller_mistake(self) -> None:
        raise KeyError("no such thing")

    def ask_peer(self, name: str) -> str:
        ref = self.peers.get(name)
        return str(ref.proxy().ping().get(timeout=DEADLINE))


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    log.configure("json", force=True, stream=_Sink())
    yield
    pykka.ActorRegistry.stop_all(timeout=DEADLINE)


class _Sink:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def spec(name: str, journal: Journal, **kwargs: Any) -> ChildSpec:
    fail_start = kwargs.pop("fail_start", False)
    return ChildSpec(name=name, start=start_actor(Worker, journal, fail_start), **kwargs)


def start_supervisor(
    children: list[ChildSpec],
    timer: ManualTimer,
    clock: Callable[[], float] | None = None,
    on_escalate: Callable[[BaseException], None] | None = None,
) -> pykka.ActorRef[Supervisor]:
    return Supervisor.start(
        None,
        children,
        name="root",
        timer=timer,
        clock=clock or ManualClock(),
        watch_interval=None,
        on_escalate=on_escalate,
    )


def events(name: str) -> list[dict[str, Any]]:
    return [e for e in log.ring().snapshot() if e.get("event") == name]


def restarts_counted(name: str = "swarm_actor_restarts_total") -> float:
    value = REGISTRY.get_sample_value(name, {"supervisor": "root", "child": "a"})
    return value or 0.0


def test_crashed_child_is_restarted_as_a_new_instance_that_serves() -> None:
    timer, journal = ManualTimer(), Journal()
    counted = restarts_counted(), restarts_counted("swarm_actor_crashes_total")
    sup = start_supervisor([spec("a", journal)], timer).proxy()
    first = sup.get("a").get()
    first_urn = first.proxy().ping().get(timeout=DEADLINE)

    first.tell("crash")
    wait_for(timer.has_pending, "restart scheduled")
    with pytest.raises(ChildUnavailable):
        sup.get("a").get()
    timer.fire_all()

    second = wait_for(lambda: _find(sup, "a"), "child back")
    assert second.actor_urn != first.actor_urn
    assert not first.is_alive()
    assert second.proxy().ping().get(timeout=DEADLINE) != first_urn
    assert sup.restart_counts().get() == {"a": 1}
    # the metrics count it too (actors/metrics/supervisor.py)
    assert restarts_counted() == counted[0] + 1
    assert restarts_counted("swarm_actor_crashes_total") == counted[1] + 1
    restarted = wait_for(lambda: events("supervisor.child.restarted"), "restart event")
    assert restarted[-1]["child"] == "a"
    assert restarted[-1]["attempt"] == 1
    assert restarted[-1]["exc_type"] == "RuntimeError"
    assert restarted[-1]["exc_message"] == "boom"
    # on_stop ran for the crashed instance too (sockets would be closed).
    assert journal.entries == ["start:a", "stop:a", "start:a"]


def test_unexpected_error_in_a_request_crashes_but_caller_errors_do_not() -> None:
    timer, journal = ManualTimer(), Journal()
    sup = start_supervisor([spec("a", journal)], timer).proxy()
    ref = sup.get("a").get()

    with pytest.raises(KeyError):
        ref.proxy().caller_mistake().get(timeout=DEADLINE)
    assert ref.is_alive()

    with pytest.raises(ValueError, match="bad state"):
        ref.proxy().fail_request().get(timeout=DEADLINE)
    wait_for(timer.has_pending, "restart scheduled")
    assert not ref.is_alive()


def test_backoff_grows_with_each_crash_in_the_window() -> None:
    timer, journal = ManualTimer(), Journal()
    backoff = Backoff(initial=0.5, maximum=3.0, factor=2.0)
    sup = start_supervisor([spec("a", journal, backoff=backoff, max_restarts=10)], timer).proxy()
    for _ in range(4):
        ref = wait_for(lambda: _find(sup, "a"), "child running")
        ref.tell("crash")
        wait_for(timer.has_pending, "restart scheduled")
        timer.fire_all()
    wait_for(lambda: _find(sup, "a"), "child running")
    assert timer.delays == [0.5, 1.0, 2.0, 3.0]
    assert sup.restart_counts().get() == {"a": 4}


def test_crashes_outside_the_window_do_not_accumulate() -> None:
    timer, journal, clock = ManualTimer(), Journal(), ManualClock()
    sup = start_supervisor(
        [spec("a", journal, max_restarts=1, window=10.0)], timer, clock=clock
    ).proxy()
    for _ in range(3):
        wait_for(lambda: _find(sup, "a"), "child running").tell("crash")
        wait_for(timer.has_pending, "restart scheduled")
        timer.fire_all()
        clock.now += 60.0
    wait_for(lambda: _find(sup, "a"), "child running")
    assert timer.delays == [0.1, 0.1, 0.1]


def test_crash_loop_escalates_and_stops_the_other_children() -> None:
    timer, journal = ManualTimer(), Journal()
    escalated: list[BaseException] = []
    ref = start_supervisor(
        [spec("first", journal), spec("loop", journal, max_restarts=2), spec("last", journal)],
        timer,
        on_escalate=escalated.append,
    )
    sup = ref.proxy()
    for _ in range(2):
        wait_for(lambda: _find(sup, "loop"), "child running").tell("crash")
        wait_for(timer.has_pending, "restart scheduled")
        timer.fire_all()
    wait_for(lambda: _find(sup, "loop"), "child running").tell("crash")

    wait_for(lambda: escalated, "escalation")
    assert isinstance(escalated[0], EscalationError)
    assert "'loop' crashed 3 times" in str(escalated[0])
    wait_for(lambda: not ref.is_alive(), "supervisor stopped")
    assert journal.entries[-2:] == ["stop:last", "stop:first"]
    assert events("supervisor.escalating")[-1]["child"] == "loop"


def test_children_start_in_declared_order_and_stop_in_reverse() -> None:
    timer, journal = ManualTimer(), Journal()
    ref = start_supervisor([spec(n, journal) for n in ("raft", "store", "ca")], timer)
    ref.proxy().status().get(timeout=DEADLINE)  # answered once on_start is done
    assert journal.entries == ["start:raft", "start:store", "start:ca"]
    ref.stop(timeout=DEADLINE)
    assert journal.entries[3:] == ["stop:ca", "stop:store", "stop:raft"]


def test_a_child_failing_its_first_start_fails_the_supervisor() -> None:
    timer, journal = ManualTimer(), Journal()
    escalated: list[BaseException] = []
    ref = start_supervisor(
        [spec("a", journal), spec("b", journal, fail_start=True), spec("c", journal)],
        timer,
        on_escalate=escalated.append,
    )
    wait_for(lambda: escalated, "escalation")
    assert isinstance(escalated[0], OSError)
    wait_for(lambda: not ref.is_alive(), "supervisor stopped")
    assert journal.entries == ["start:a", "start:b", "stop:b", "stop:a"]


class CrashesFirstThing(SupervisedActor):
    """Starts fine, then crashes on a message it sent itself from on_start, before the
    supervisor's start check is handled (on_start waits until that check is queued
    behind the crash, so the order is certain)."""

    instances: ClassVar[list[str]] = []

    def on_start(self) -> None:
        type(self).instances.append(self.actor_urn)
        if len(type(self).instances) == 1:
            self.actor_ref.tell("crash")
            wait_for(lambda: self.actor_inbox.qsize() >= 2, "the supervisor's start check")

    def on_receive(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("first message")
        return super().on_receive(message)


def test_a_crash_right_after_a_good_start_is_restarted_not_a_failed_start() -> None:
    timer, journal = ManualTimer(), Journal()
    escalated: list[BaseException] = []
    CrashesFirstThing.instances = []
    first = ChildSpec(name="early", start=start_actor(CrashesFirstThing))
    ref = start_supervisor([first, spec("b", journal)], timer, on_escalate=escalated.append)
    sup = ref.proxy()
    status = {s.name: s.state for s in sup.status().get(timeout=DEADLINE)}
    assert status == {"early": ChildState.BACKOFF, "b": ChildState.RUNNING}
    timer.fire_all()
    wait_for(lambda: _find(sup, "early"), "the child restarted")
    assert sup.restart_counts().get() == {"early": 1, "b": 0}
    assert not escalated and ref.is_alive()
    assert len(CrashesFirstThing.instances) == 2


def test_other_children_keep_serving_while_one_waits_to_restart() -> None:
    timer, journal = ManualTimer(), Journal()
    sup = start_supervisor([spec("a", journal), spec("b", journal)], timer).proxy()
    sup.get("a").get().tell("crash")
    wait_for(timer.has_pending, "restart scheduled")
    status = {s.name: s.state for s in sup.status().get()}
    assert status == {"a": ChildState.BACKOFF, "b": ChildState.RUNNING}
    assert sup.get("b").get().proxy().ping().get(timeout=DEADLINE)


def test_policies_transient_and_temporary() -> None:
    timer, journal = ManualTimer(), Journal()
    sup = start_supervisor(
        [
            spec("transient", journal, restart=Restart.TRANSIENT),
            spec("temporary", journal, restart=Restart.TEMPORARY),
        ],
        timer,
    ).proxy()
    sup.get("transient").get().stop()  # a clean exit: not restarted
    sup.get("temporary").get().tell("crash")  # a crash: still not restarted
    wait_for(lambda: all(s.state is ChildState.STOPPED for s in sup.status().get()), "both stopped")
    assert not timer.has_pending()


def test_nested_group_starts_and_stops_on_demand_and_finds_uncles() -> None:
    timer, journal = ManualTimer(), Journal()
    leader = ChildSpec(
        name="leader",
        start=start_actor(Supervisor, children=[spec("scheduler", journal)], watch_interval=None),
        restart=Restart.PERMANENT,
        autostart=False,
    )
    sup = start_supervisor([spec("store", journal), leader], timer).proxy()
    with pytest.raises(ChildUnavailable):
        sup.get("leader").get()

    sup.start_child("leader").get(timeout=DEADLINE)
    group = sup.get("leader").get().proxy()
    scheduler = group.get("scheduler").get()
    store_urn = sup.get("store").get().proxy().ping().get()
    assert scheduler.proxy().ask_peer("store").get(timeout=DEADLINE) == store_urn

    sup.stop_child("leader").get(timeout=DEADLINE)
    assert not scheduler.is_alive()
    assert journal.entries == ["start:store", "start:scheduler", "stop:scheduler"]


def test_an_escalating_group_is_restarted_by_its_parent() -> None:
    timer, journal = ManualTimer(), Journal()
    leader = ChildSpec(
        name="leader",
        start=start_actor(
            Supervisor, children=[spec("scheduler", journal, max_restarts=0)], watch_interval=None
        ),
    )
    sup = start_supervisor([leader], timer).proxy()
    group = sup.get("leader").get()
    group.proxy().get("scheduler").get().tell("crash")
    wait_for(lambda: not group.is_alive(), "group failed")
    wait_for(timer.has_pending, "group restart scheduled")
    timer.fire_all()
    new_group = wait_for(lambda: _find(sup, "leader"), "group back")
    assert new_group.proxy().get("scheduler").get().is_alive()
    assert sup.restart_counts().get() == {"leader": 1}


class Plain(pykka.ThreadingActor):
    pass


def test_a_plain_pykka_child_that_dies_is_noticed_by_the_watch() -> None:
    timer = ManualTimer()
    ref = Supervisor.start(
        None,
        [ChildSpec(name="plain", start=lambda _ctx: Plain.start())],
        timer=timer,
        clock=ManualClock(),
        watch_interval=1.0,
    )
    sup = ref.proxy()
    plain = sup.get("plain").get()
    plain.stop()
    timer.fire_all()  # the watch tick notices and schedules a restart
    wait_for(lambda: any(d == 0.1 for d in timer.delays), "restart scheduled")
    timer.fire_all()
    again = wait_for(lambda: _find(sup, "plain"), "child back")
    assert again.actor_urn != plain.actor_urn


def _find(sup: Any, name: str) -> pykka.ActorRef[Any] | None:
    try:
        ref: pykka.ActorRef[Any] = sup.get(name).get(timeout=DEADLINE)
    except ChildUnavailable:
        return None
    return ref


class SlowStopper(SupervisedActor):
    """Counts live instances; its on_stop waits for ``release`` (a busy actor's queue)."""

    live: ClassVar[int] = 0
    most_live: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, ctx: ChildContext, release: threading.Event) -> None:
        super().__init__(ctx)
        self.release = release

    def on_start(self) -> None:
        with SlowStopper.lock:
            SlowStopper.live += 1
            SlowStopper.most_live = max(SlowStopper.most_live, SlowStopper.live)

    def on_stop(self) -> None:
        self.release.wait(DEADLINE)
        with SlowStopper.lock:
            SlowStopper.live -= 1


def test_a_child_slow_to_stop_is_not_started_again_beside_itself() -> None:
    SlowStopper.live = SlowStopper.most_live = 0
    timer, release = ManualTimer(), threading.Event()
    slow = ChildSpec("a", start_actor(SlowStopper, release), stop_timeout=0.05)
    sup = start_supervisor([slow], timer).proxy()
    first = sup.get("a").get()
    try:
        _stop_slowly_then_start_again(sup, timer, release, first)
    finally:
        release.set()


def _stop_slowly_then_start_again(
    sup: Any, timer: ManualTimer, release: threading.Event, first: pykka.ActorRef[Any]
) -> None:
    sup.stop_child("a").get(timeout=DEADLINE)  # times out: the instance is still stopping
    assert SlowStopper.live == 1
    sup.start_child("a").get(timeout=DEADLINE)
    assert {s.name: s.state for s in sup.status().get()} == {"a": ChildState.BACKOFF}
    assert SlowStopper.most_live == 1
    assert wait_for(lambda: events("supervisor.child.start_deferred"), "deferral logged")

    release.set()
    wait_for(lambda: SlowStopper.live == 0, "first instance stopped")
    timer.fire_all()
    second = wait_for(lambda: _find(sup, "a"), "child started once the first had stopped")
    assert second.actor_urn != first.actor_urn
    assert SlowStopper.most_live == 1
    assert sup.restart_counts().get() == {"a": 0}  # a deferred start is not a restart
