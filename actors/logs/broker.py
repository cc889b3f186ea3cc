"""The log broker (leader-only): the I/O shell around ``BrokerCore``.

It holds the nodes' listen streams and the readers' waiting reads (the remote and control
endpoints' ``Request`` handles, answered from here), resolves subscriptions against the
store, and watches it: a task placed on a node takes the node into the follows that select
it; a removed service, task or node ends the follows of it; a node that goes down or is
removed stops listening. Every ``tick_interval`` it ticks the core (idle subscriptions,
silent nodes) and answers the reads whose wait is over with what there is (nothing); every
``keepalive`` seconds it sends each listen stream an empty frame, so a node notices a
leader that is gone (its stream stays silent) and listens again elsewhere.
Stopping (leadership lost) ends every listen stream and waiting read: nodes listen again
and readers subscribe again on the new leader.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Final

from actors.control.errors import ControlCode, error_of
from actors.log import get_logger
from actors.logs.broker_core import (
    BrokerCore,
    BrokerError,
    BrokerLimits,
    Effects,
    PublishResult,
    TaskPlace,
)
from actors.logs.wire import (
    LogOptions,
    LogSelector,
    PublishBatch,
    ReadBatch,
    SubscriptionMessage,
    TaskContext,
)
from actors.metrics.logs import LOG_SUBSCRIPTIONS, LOG_SUBSCRIPTIONS_EXPIRED
from actors.periodic import PeriodicActor
from actors.store import Action, Event, MemoryStore, ReadTx, StoreError, WatchClosed, Watcher
from actors.store import nodes as node_queries
from actors.store import services as service_queries
from actors.store import tasks as task_queries
from actors.supervisor import ChildContext
from api.enums import NodeState
from api.errors import CodecError
from api.ids import new_id
from api.objects import Node, ObjectKind, Service, Task
from api.runtime_options import log_reading_refusal
from transport.endpoint import Request

__all__ = ["LogBroker", "concerns_follows"]

_log = get_logger("logs")
STOPPED: Final = "log broker stopped (leadership moved)"
REPLACED: Final = "replaced by a new listen stream"
KEEPALIVE: Final = 2.0  # seconds between empty frames on an idle listen stream
_WATCHED: Final = frozenset({ObjectKind.TASK, ObjectKind.NODE, ObjectKind.SERVICE})


def concerns_follows(event: Event) -> bool:
    """Whether a change can concern a follow (what ``_observe`` acts on): a task removed or
    put on a node it was not on, a service removed, any change of a node. A task's
    progress where it is cannot: it is the watch's predicate (run in the store's apply),
    so the broker is not handed each of 100,000 tasks' reports."""
    obj = event.object
    if isinstance(obj, Task):
        if event.action is Action.DELETE:
            return True
        old = event.old
        return bool(obj.node_id) and (not isinstance(old, Task) or old.node_id != obj.node_id)
    if isinstance(obj, Service):
        return event.action is Action.DELETE
    return True


@dataclass(slots=True)
class _Waiting:
    request: Request
    owner: str
    after: int
    deadline: float


class LogBroker(PeriodicActor):
    """Its own periodic job (actors/periodic.py): ``tick`` runs on the broker's thread."""

    caller_errors: ClassVar[tuple[type[Exception], ...]] = (BrokerError,)

    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        *,
        limits: BrokerLimits | None = None,
        tick_interval: float = 0.1,
        keepalive: float = KEEPALIVE,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(ctx, self)
        self._store = store
        self._core = BrokerCore(limits)
        self._tick_interval = tick_interval
        self._keepalive = keepalive
        self._last_keepalive = 0.0
        self._rng = rng or random.SystemRandom()
        self._listeners: dict[str, Request] = {}
        self._waiting: dict[str, _Waiting] = {}
        self._watcher: Watcher | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def on_start(self) -> None:
        known, self._watcher = self._store.view_and_watch(
            node_queries.list_all, kinds=_WATCHED, predicate=concerns_follows
        )
        for node in known:
            self._core.set_node_name(node.id, node.hostname)
        _log.info("logs.broker.started")
        super().on_start()

    def on_stop(self) -> None:
        super().on_stop()
        for request in self._listeners.values():
            self._end_stream(request, STOPPED)
        for waiting in self._waiting.values():
            with contextlib.suppress(CodecError):
                waiting.request.error("unavailable", STOPPED)
        if self._watcher is not None:
            self._watcher.close()
        LOG_SUBSCRIPTIONS.set(0)
        _log.info("logs.broker.stopped", subscriptions=len(self._core))

    def interval(self) -> float:
        return self._tick_interval

    # --- nodes (called through the actor's proxy by handlers.py) -----------------------

    def listen(self, request: Request, node_id: str) -> None:
        """``node_id`` (the caller's certificate's node) opens its listen stream."""
        old = self._listeners.pop(node_id, None)
        if old is not None:
            self._carry_out(self._core.unlisten(node_id, "reconnected"))
            self._end_stream(old, REPLACED)
        self._listeners[node_id] = request
        messages = self._core.listen(self.clock(), node_id)
        self._send(node_id, messages, full=True)
        _log.debug("logs.listen.opened", peer_node=node_id, subscriptions=len(messages))

    def publish(self, node_id: str, batch: PublishBatch) -> PublishResult:
        """Take a batch from ``node_id`` (the caller's certificate's node)."""

        def lookup(task_id: str) -> TaskPlace | None:
            task = self._store.view(lambda tx: task_queries.get(tx, task_id))
            return TaskPlace(task.node_id, task.service_id) if task is not None else None

        result, effects = self._core.publish(self.clock(), node_id, batch, lookup)
        if result.refused and not result.stop:
            _log.warning(
                "logs.publish.refused",
                peer_node=node_id,
                subscription_id=batch.subscription_id,
                refused=result.refused,
                reason="records of tasks that are not this node's or not selected",
            )
        self._carry_out(effects)
        return result

    # --- subscribers --------------------------------------------------------------------

    def subscribe(self, owner: str, selector: LogSelector, options: LogOptions) -> str:
        """A new subscription for ``owner``; its id. Store errors (no such service, task
        or node) go back to the caller."""
        sub_id = new_id(self._rng)
        now = self.clock()
        try:
            node, (service_ids, task_ids, placed), unreadable = self._store.view(
                lambda tx: (
                    node_queries.lookup(tx, selector.node) if selector.node else None,
                    _resolve(tx, selector),
                    _unreadable(tx, selector),
                )
            )
        except StoreError as exc:
            refusal = error_of(exc)
            if refusal is None:
                raise
            raise BrokerError(refusal.code, refusal.message) from exc
        if unreadable is not None:  # refused as dockerd refuses it, before any line
            raise BrokerError(ControlCode.NOT_SUPPORTED, unreadable)
        if node is not None:
            self._core.set_node_name(node.id, node.hostname)
            effects = self._core.subscribe(now, sub_id, owner, options, node_id=node.id)
        else:
            effects = self._core.subscribe(
                now,
                sub_id,
                owner,
                options,
                service_ids=service_ids,
                task_ids=task_ids,
                task_nodes=placed,
            )
        _log.info(
            "logs.subscription.opened",
            subscription_id=sub_id,
            node=selector.node or None,
            services=len(selector.services),
            tasks=len(selector.tasks),
            follow=options.follow,
        )
        self._carry_out(effects)
        return sub_id

    def read(self, request: Request, owner: str, sub_id: str, after: int, wait: float) -> None:
        """Answer ``request`` with the records after ``after`` now, or once some come, or
        empty after ``wait`` seconds. BrokerError (unknown subscription) goes back."""
        now = self.clock()
        batch = self._core.read(now, sub_id, owner, after)
        previous = self._waiting.pop(sub_id, None)
        if previous is not None:  # a read replaces the one before it
            self._answer(previous.request, ReadBatch(seq=previous.after))
        if batch is not None:
            self._answer(request, batch)
        else:
            self._waiting[sub_id] = _Waiting(request, owner, after, now + wait)

    def close(self, owner: str, sub_id: str) -> bool:
        """The reader is done with ``sub_id``: it is dropped and its nodes told at once; a
        read still waiting on it is answered empty. False: no such subscription of
        ``owner``'s (already gone: closing is idempotent)."""
        closed, effects = self._core.close(sub_id, owner)
        waiting = self._waiting.get(sub_id)
        if closed and waiting is not None:
            del self._waiting[sub_id]
            self._answer(waiting.request, ReadBatch(seq=waiting.after))
        if closed:
            _log.info("logs.subscription.closed", subscription_id=sub_id)
        self._carry_out(effects)
        return closed

    def subscription_count(self) -> int:
        return len(self._core)

    # --- the tick -----------------------------------------------------------------------

    def tick(self, now: float) -> None:
        self._drain_watch()
        self._carry_out(self._core.tick(now))
        if now - self._last_keepalive >= self._keepalive:
            self._last_keepalive = now
            for node_id in list(self._listeners):
                self._send(node_id, (), full=False, keepalive=True)
        for sub_id, waiting in list(self._waiting.items()):
            if waiting.deadline <= now:
                del self._waiting[sub_id]
                self._answer(waiting.request, ReadBatch(seq=waiting.after))

    def _drain_watch(self) -> None:
        watcher = self._watcher
        if watcher is None:
            return
        try:
            events = watcher.poll()
        except WatchClosed as exc:
            self._resync(exc.reason)
            return
        for event in events:
            self._observe(event)

    def _observe(self, event: Event) -> None:
        obj, deleted = event.object, event.action is Action.DELETE
        core, now = self._core, self.clock()
        if isinstance(obj, Task):
            if deleted:
                for sub_id in core.follows_of_task(obj.id):
                    self._carry_out(core.end(sub_id, f"task {obj.id} was removed"))
            else:
                place = TaskPlace(obj.node_id, obj.service_id)
                self._carry_out(core.task_seen(now, obj.id, place))
        elif isinstance(obj, Service) and deleted:
            for sub_id in core.follows_of(obj.id):
                self._carry_out(core.end(sub_id, f"service {obj.spec.name} was removed"))
        elif isinstance(obj, Node):
            core.set_node_name(obj.id, obj.hostname)
            if deleted:
                self._node_gone(obj.id, "was removed")
                for sub_id in core.follows_of_node(obj.id):
                    self._carry_out(core.end(sub_id, f"node {obj.hostname} was removed"))
            elif obj.status.state is NodeState.DOWN:
                self._node_gone(obj.id, "is down")

    def _node_gone(self, node_id: str, reason: str) -> None:
        request = self._listeners.pop(node_id, None)
        if request is None:
            return
        self._end_stream(request, f"node {reason}")
        self._carry_out(self._core.unlisten(node_id, reason))

    def _resync(self, reason: str) -> None:
        """The watch was closed (fell behind, or the store was restored): read the store
        again and let the follows take in every node that has one of their tasks."""
        _log.warning("logs.broker.watch.reset", reason=reason)
        (known, placed), self._watcher = self._store.view_and_watch(
            lambda tx: (node_queries.list_all(tx), task_queries.list_all(tx)),
            kinds=_WATCHED,
            predicate=concerns_follows,
        )
        now = self.clock()
        for node in known:
            self._core.set_node_name(node.id, node.hostname)
        for task in placed:
            place = TaskPlace(task.node_id, task.service_id)
            self._carry_out(self._core.task_seen(now, task.id, place))

    # --- effects ------------------------------------------------------------------------

    def _carry_out(self, effects: Effects) -> None:
        for sub_id, reason in effects.expired:
            if reason == "idle":  # its reader went away without closing it
                LOG_SUBSCRIPTIONS_EXPIRED.inc()
                _log.info("logs.subscription.expired", subscription_id=sub_id, reason=reason)
            else:
                _log.debug("logs.subscription.expired", subscription_id=sub_id, reason=reason)
        LOG_SUBSCRIPTIONS.set(len(self._core))
        for delivery in effects.deliveries:
            self._send(delivery.node_id, delivery.messages, full=False)
        now = self.clock()
        for sub_id in effects.wake:
            waiting = self._waiting.get(sub_id)
            if waiting is None:
                continue
            try:
                batch = self._core.read(now, sub_id, waiting.owner, waiting.after)
            except BrokerError as exc:
                del self._waiting[sub_id]
                with contextlib.suppress(CodecError):
                    waiting.request.error(exc.code, exc.message)
                continue
            if batch is not None:
                del self._waiting[sub_id]
                self._answer(waiting.request, batch)

    def _send(
        self,
        node_id: str,
        messages: Iterable[SubscriptionMessage],
        *,
        full: bool,
        keepalive: bool = False,
    ) -> None:
        request = self._listeners.get(node_id)
        items = [m.encode() for m in messages]
        if request is None or (not items and not full and not keepalive):
            return
        try:
            request.reply({"full": full, "subscriptions": items}, more=True)
        except CodecError as exc:
            _log.error("logs.listen.send_failed", peer_node=node_id, error=exc.message)

    @staticmethod
    def _end_stream(request: Request, reason: str) -> None:
        if not request.answered:
            with contextlib.suppress(CodecError):
                request.reply({"full": False, "subscriptions": [], "closed": reason})

    def _answer(self, request: Request, batch: ReadBatch) -> None:
        body = batch.encode()
        ids = {r.task_id for r in batch.records if r.task_id}
        if ids:
            body["tasks"] = [c.encode() for c in self._store.view(lambda tx: _contexts(tx, ids))]
        try:
            request.reply(body)
        except CodecError as exc:
            _log.error("logs.read.send_failed", error=exc.message)


def _resolve(tx: ReadTx, selector: LogSelector) -> tuple[set[str], set[str], set[str]]:
    """Service ids, task ids and the nodes their tasks are on (store errors: NotFound)."""
    service_ids = {service_queries.lookup(tx, ref).id for ref in selector.services}
    named = [task_queries.lookup(tx, ref) for ref in selector.tasks]
    tasks = [t for sid in service_ids for t in task_queries.by_service(tx, sid)] + named
    return service_ids, {t.id for t in named}, {t.node_id for t in tasks if t.node_id}


def _unreadable(tx: ReadTx, selector: LogSelector) -> str | None:
    """Why the output the selector asks for cannot be read (a service's or task's logging
    driver keeps none to read back: api/runtime_options.py), or None."""
    specs = [service_queries.lookup(tx, ref).spec.task for ref in selector.services]
    specs += [task_queries.lookup(tx, ref).spec for ref in selector.tasks]
    for spec in specs:
        refusal = log_reading_refusal(spec)
        if refusal is not None:
            return refusal
    return None


def _contexts(tx: ReadTx, ids: Iterable[str]) -> list[TaskContext]:
    found = []
    for task_id in sorted(ids):
        task = task_queries.get(tx, task_id)
        if task is None:
            found.append(TaskContext(task_id, "", 0, "", ""))
            continue
        node = node_queries.get(tx, task.node_id) if task.node_id else None
        hostname = node.hostname if node is not None else ""
        found.append(TaskContext(task.id, task.service_name, task.slot, task.node_id, hostname))
    return found
