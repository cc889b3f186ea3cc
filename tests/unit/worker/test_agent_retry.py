"""The agent between sessions: a failed session waits its backoff on the supervisor's timer
(a manual one here: nothing sleeps) and then tries the next manager; a crash of a session
thread reaches the supervisor. Real ZeroMQ with CURVE, to ports where nobody listens."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator, Sequence

import pykka
import pytest

from actors.dispatcher.wire import ManagerAddress
from actors.supervised import ChildContext, ChildExit, Directory
from actors.worker.agent import Agent
from actors.worker.session import SESSION_BACKOFF
from api.objects import NodeDescription, Platform, Task, TaskStatus
from tests.support.clocks import ManualTimer
from tests.support.waiting import wait_for
from transport.keys import generate_keypair


class NoWorker:
    """An AssignmentSink that never hears from a manager (none answers here)."""

    def apply_assignments(self, full: bool, tasks: Sequence[Task], removed: Sequence[str]) -> None:
        raise AssertionError("no manager should have answered")

    def current_statuses(self) -> Sequence[tuple[str, TaskStatus]]:
        return ()


def silent_address() -> str:
    """A TCP address nobody listens on (the OS's port, released at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class Exits:
    def __init__(self) -> None:
        self.exits: list[ChildExit] = []

    def __call__(self, exit_: ChildExit) -> None:
        self.exits.append(exit_)


def start_agent(
    timer: ManualTimer, managers: Sequence[ManagerAddress], exits: Exits, seed: int = 1
) -> pykka.ActorRef[Agent]:
    ctx = ChildContext("agent", 1, Directory(["agent"]), exits, clock=timer.clock, timer=timer)
    return Agent.start(
        ctx,
        node_id="n" * 25,
        keypair=generate_keypair(),
        managers=managers,
        sink=NoWorker(),
        description=NodeDescription(hostname="w", platform=Platform("linux", "x86_64")),
        connect_timeout=0.05,
        request_timeout=0.5,
        rng=random.Random(seed),
    )


@pytest.fixture
def stop_all() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all()


@pytest.mark.usefixtures("stop_all")
def test_a_failed_session_waits_its_backoff_on_the_timer_then_tries_the_next_manager() -> None:
    timer, exits = ManualTimer(), Exits()
    m1, m2 = (ManagerAddress(silent_address(), generate_keypair().public) for _ in range(2))
    agent = start_agent(timer, [m1, m2], exits, seed=1).proxy()
    draws = random.Random(1)

    wait_for(timer.has_pending, "the retry after the first session")
    assert timer.delays == [SESSION_BACKOFF.delay(1, draws)]
    assert agent.state().get(timeout=5).manager == m1.addr  # nothing more until it fires

    assert timer.fire_all() == 1
    wait_for(lambda: len(timer.delays) == 2, "the retry after the second session")
    assert agent.state().get(timeout=5).manager == m2.addr
    assert timer.delays[1] == SESSION_BACKOFF.delay(1, draws)  # still the first round

    timer.fire_all()
    wait_for(lambda: len(timer.delays) == 3, "the retry after the third session")
    assert agent.state().get(timeout=5).manager == m1.addr  # round the list again
    assert timer.delays[2] == SESSION_BACKOFF.delay(2, draws)  # the second round: doubled

    agent.actor_ref.stop()
    assert not timer.has_pending()  # stopping cancels the retry
    assert [(e.name, e.error) for e in exits.exits] == [("agent", None)]  # a clean stop


@pytest.mark.usefixtures("stop_all")
def test_a_crashed_session_thread_crashes_the_agent() -> None:
    timer, exits = ManualTimer(), Exits()
    # an empty server key makes the session's ZeroMQ socket refuse its options: a bug of
    # the kind nothing in the session expects
    broken = ManagerAddress(silent_address(), b"")
    start_agent(timer, [broken], exits)
    wait_for(lambda: exits.exits, "the agent's exit")
    [exit_] = exits.exits
    assert exit_.error is not None
    assert not timer.has_pending()  # no retry: the supervisor restarts the agent


def test_an_agent_stopped_before_its_session_began_ends_the_attempt_quietly() -> None:
    # the stream's reader was joined without having started: RuntimeError, logged as a
    # session crash on every stop that came before the session thread got going
    manager = ManagerAddress(silent_address(), generate_keypair().public)
    agent = Agent(
        None,
        node_id="n" * 25,
        keypair=generate_keypair(),
        managers=[manager],
        sink=NoWorker(),
        description=NodeDescription(hostname="w", platform=Platform("linux", "x86_64")),
    )
    agent._halt.set()  # on_stop came first
    assert agent._attempt(manager) is False
