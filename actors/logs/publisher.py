"""The node's log publisher (every node): learns the log subscriptions that concern it from
the leader's broker and publishes what they ask for (DESIGN.md §2, §10).

A listen thread (started in ``on_start``, stopped in ``on_stop``) keeps one ``logs.listen``
stream open with a manager, as this node (its CURVE key pair): first the manager the
node's agent has its session with (the dispatcher, like the broker, runs on the leader),
else the next of the node's manager list; a manager that is not the leader answers
``unavailable`` and the next is tried after a backoff. On the stream:

- the first frame (``full``) names every open subscription that concerns the node: those
  not named are stopped, new ones started; later frames start new ones and stop closed
  ones; a ``closed`` frame (the broker stopped, the stream was replaced) ends the stream;
- the broker sends an empty frame every couple of seconds: a stream silent for
  ``silence`` seconds (the leader died) is given up, and the node listens again, to the
  new leader.

Each subscription is a ``Publishing`` (publishing.py) on its own thread, publishing
through the same connection. When the stream ends every publishing stops: the broker that
held the subscriptions is gone or has told the node to close them, and a new leader's
broker sends what it holds when the node listens there.

An unexpected error in the listen thread crashes the actor (its supervisor restarts it).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pykka

from actors.backoff import Backoff
from actors.dispatcher.wire import ManagerAddress
from actors.log import get_logger
from actors.logs.publishing import EventSource, Publishing, TaskSource
from actors.logs.wire import SubscriptionMessage
from actors.supervised import ChildContext, SupervisedActor
from actors.worker.executors.output import OutputQuery, OutputStream
from api.errors import TransportError
from api.objects import Task
from api.task_state import TaskState
from transport.client import Client
from transport.keys import KeyPair

__all__ = ["LogPublisher", "WorkerTasks"]

_log = get_logger("logs")
LISTEN: Final = "logs.listen"
SILENCE: Final = 6.0  # three of the broker's keepalives (actors/logs/broker.py)
LISTEN_BACKOFF: Final = Backoff(initial=0.2, maximum=3.0, jitter=0.2)


class WorkerTasks:
    """A ``TaskSource`` over the node's running worker (found per call: a restarted
    worker is a new actor) and its executor."""

    def __init__(self, find: Callable[[], pykka.ActorRef[Any] | None], timeout: float = 5.0):
        self._find = find
        self._timeout = timeout

    def _worker(self) -> pykka.ActorRef[Any] | None:
        ref = self._find()
        return ref if ref is not None and ref.is_alive() else None

    def tasks(self) -> Sequence[tuple[Task, TaskState]]:
        ref = self._worker()
        if ref is None:
            return ()
        with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
            held: Sequence[tuple[Task, TaskState]] = (
                ref.proxy().held_tasks().get(timeout=self._timeout)
            )
            return held
        return ()

    def output(self, task: Task, query: OutputQuery) -> OutputStream:
        ref = self._worker()
        if ref is None:
            raise pykka.ActorDeadError("the worker is not running")
        executor = ref.proxy().executor.get(timeout=self._timeout)
        stream: OutputStream = executor.controller(task).output(query)
        return stream


@dataclass(frozen=True, slots=True)
class _Crashed:
    error: BaseException


class LogPublisher(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None,
        *,
        node_id: str,
        keypair: KeyPair,
        managers: Callable[[], Sequence[ManagerAddress]],
        tasks: TaskSource,
        events: EventSource | None = None,
        session_manager: Callable[[], str] = lambda: "",
        source: str | None = None,
        silence: float = SILENCE,
        backoff: Backoff = LISTEN_BACKOFF,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(ctx)
        self._node_id = node_id
        self._keypair = keypair
        self._managers = managers
        self._tasks = tasks
        self._events = events
        self._session_manager = session_manager
        self._source = source
        self._silence = silence
        self._backoff = backoff
        self._rng = rng or random.Random()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._running: dict[str, Publishing] = {}
        self._thread: threading.Thread | None = None
        self._turn = 0  # which manager of the list to try when the session's is no good
        self._last: ManagerAddress | None = None

    def on_start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="logs-listen", daemon=True)
        self._thread.start()

    def on_stop(self) -> None:
        self._halt.set()
        with self._lock:
            client = self._client
        if client is not None:
            client.close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Crashed):
            raise message.error
        return None

    def subscriptions(self) -> list[str]:
        """The subscriptions being published now (tests)."""
        with self._lock:
            return sorted(self._running)

    # --- the listen thread ---------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        try:
            while not self._halt.is_set():
                if self._listen_once(self._choose()):
                    failures = 0
                failures += 1
                self._halt.wait(self._backoff.delay(failures, self._rng))
        except BaseException as exc:  # a bug: let the supervisor restart the publisher
            _log.exception("logs.listen.crashed", error=repr(exc))
            with contextlib.suppress(pykka.ActorDeadError):
                self.actor_ref.tell(_Crashed(exc))

    def _choose(self) -> ManagerAddress | None:
        """The session's manager, unless it was the one tried last; else the next."""
        managers = list(self._managers())
        if not managers:
            return None
        session = self._session_manager()
        preferred = next((m for m in managers if session and m.addr == session), None)
        if preferred is not None and preferred != self._last:
            choice = preferred
        else:
            self._turn = (self._turn + 1) % len(managers)
            choice = managers[self._turn]
        self._last = choice
        return choice

    def _listen_once(self, manager: ManagerAddress | None) -> bool:
        """One listen stream; True if the broker answered it."""
        if manager is None:
            return False
        client = Client(
            manager.addr,
            server_key=manager.server_key,
            keypair=self._keypair,
            name=f"logs-{self._node_id[:8]}",
            source=self._source,
        )
        with self._lock:
            if self._halt.is_set():
                client.close()
                return False
            self._client = client
        heard = False
        try:
            for frame in client.stream(LISTEN, {"node_id": self._node_id}, timeout=self._silence):
                if not heard:
                    _log.info("logs.listen.opened", manager=manager.addr)
                heard = True
                if self._take(client, frame) or self._halt.is_set():
                    break
        except TransportError as exc:
            level = _log.info if heard else _log.debug
            level("logs.listen.ended", manager=manager.addr, reason=str(exc)[:200])
        except (KeyError, ValueError) as exc:
            _log.warning("logs.listen.bad_frame", manager=manager.addr, error=str(exc)[:200])
        finally:
            self._stop_all()
            with self._lock:
                self._client = None
            client.close()
        return heard

    def _take(self, client: Client, frame: dict[str, Any]) -> bool:
        """Apply one frame; True when the stream is over."""
        messages = [SubscriptionMessage.parse(item) for item in frame["subscriptions"]]
        if frame["full"]:
            named = {m.id for m in messages}
            with self._lock:
                gone = [p for sub_id, p in self._running.items() if sub_id not in named]
            for publishing in gone:
                publishing.stop()
        for message in messages:
            if message.close:
                with self._lock:
                    closing = self._running.get(message.id)
                if closing is not None:
                    closing.stop()
            else:
                self._start(client, message)
        closed = frame.get("closed")
        if closed:
            _log.info("logs.listen.closed", reason=str(closed)[:200])
            return True
        return False

    def _start(self, client: Client, message: SubscriptionMessage) -> None:
        with self._lock:
            if message.id in self._running:
                return
            publishing = Publishing(
                message,
                node_id=self._node_id,
                client=_Requests(client),
                tasks=self._tasks,
                events=self._events,
                on_end=self._ended,
            )
            self._running[message.id] = publishing
        _log.debug("logs.subscription.publishing", subscription_id=message.id)
        publishing.start()

    def _ended(self, sub_id: str) -> None:
        with self._lock:
            self._running.pop(sub_id, None)

    def _stop_all(self) -> None:
        with self._lock:
            running = list(self._running.values())
        for publishing in running:
            publishing.stop()
        for publishing in running:
            publishing.join(timeout=2.0)


class _Requests:
    """``Publisher`` over a client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def request(self, message_type: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self._client.request(message_type, body, timeout=timeout)
