"""The dispatcher's one place of writing: node statuses and task statuses, one store batch
per flush, on its own actor so a slow commit never holds up heartbeats. It only updates
Nodes that exist: a Node is created by the CA's join, never by the dispatcher.

Task statuses go ``STATUS_GROUP`` to a sub-transaction (a ramp writes 100,000 of them, and
a sub-transaction per status cost a third more of the writer's CPU per status: its own
store lock, transaction and group to encode). A group is applied whole or not at all, so
a group that one status of it got rejected (its task changed by another writer's
proposal in flight, or deleted) is written again one status per sub-transaction, each
judged again against the task as stored then; a status whose write lost such a race again
is retried up to ``WRITE_ATTEMPTS`` writes in all, as a node write is. A status dropped
on a conflict was lost for good: a removed service's task that the orchestrator was giving
desired REMOVE as its SHUTDOWN came in stayed non-terminal, so the reaper never deleted
it, nor the service, until the node's next session resent its statuses.

A batch the store failed as a whole (a ``StoreError``: not the leader, a proposal
dropped or timed out) is held and written again after a backoff while the dispatcher
runs, with the writes the core hands on meanwhile joining it (held_writes.py has the
rules). Before, it was dropped: a heartbeat's TLS report (which the agent sends once), a
session's READY, statuses a worker was told were accepted, all lost until the node's
next session. When no writes are held, a batch is written as before: a status costs
nothing more.

What is given up while the writer runs (held_writes.py: too many failed attempts, or over
the bounds) goes to ``on_lost`` as the nodes it was about: the dispatcher closes their
sessions, so their agents register again and resend it (actor.py).

The dispatcher's stop bounds the writer's: once ``stopping`` is done (set first thing in
the dispatcher's ``on_stop``), a batch waiting for its verdicts stops waiting
(``MemoryStore.batch``'s ``stop_waiting``: a proposal stuck without a quorum would hold it
for the store's proposal timeout, past the dispatcher's stop), writes handed on are only
held, and the stop gives up what is held: the next leader's sessions judge again what
did not commit, from the agents' resends."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import replace
from functools import partial
from typing import Final

import pykka

from actors.dispatcher.core import NodeWrite
from actors.dispatcher.held_writes import HeldWrites, Lost, Writes
from actors.dispatcher.statuses import Decision, PendingStatus, judge_status
from actors.log import get_logger
from actors.metrics import dispatcher as metrics
from actors.store import Batch, ConflictError, MemoryStore, StoreError, WriteTx, nodes, tasks
from actors.supervised import ThreadTimer, Timer
from api.objects import NodeDescription, NodeStatus
from api.objects_copy import copy_object

__all__ = ["StoreWriter", "Writes", "write_batch"]

_log = get_logger("dispatcher")

WRITE_ATTEMPTS = 5  # a write re-reads its object: retried while another writer wins
STATUS_GROUP = 64  # task statuses per sub-transaction
_RETRY: Final = "retry"


def _write_node(tx: WriteTx, w: NodeWrite) -> None:
    node = nodes.get(tx, w.node_id)
    if node is None:
        # deleted meanwhile (node rm): never recreated here, Nodes come from the CA's join
        return
    addr = w.addr if w.addr is not None else node.status.addr
    description = w.description if w.description is not None else node.description
    if w.tls is not None:  # a heartbeat's TLS report (core.py)
        description = replace(description or NodeDescription(), tls_info=w.tls)
    tx.update(replace(node, description=description, status=NodeStatus(w.state, w.message, addr)))


def _write_status(tx: WriteTx, p: PendingStatus) -> None:
    task = tasks.get(tx, p.task_id)
    if judge_status(task, p.node_id, p.status).decision is Decision.WRITE:
        assert task is not None
        # copy_object, not dataclasses.replace: a write per status report; built here for
        # this write alone, so handed over (the store sets its meta instead of copying it)
        tx.update(copy_object(task, task.meta, {"status": p.status}), handed_over=True)


def _write_statuses(tx: WriteTx, ps: Sequence[PendingStatus]) -> None:
    for p in ps:
        _write_status(tx, p)


def _fill(
    batch: Batch, node_writes: Sequence[NodeWrite], groups: Sequence[Sequence[PendingStatus]]
) -> None:
    for w in node_writes:
        batch.update(partial(_write_node, w=w))
    for ps in groups:
        batch.update(partial(_write_statuses, ps=ps))


class StoreWriter(pykka.ThreadingActor):
    def __init__(
        self,
        store: MemoryStore,
        *,
        timer: Timer | None = None,
        rng: random.Random | None = None,
        held: HeldWrites | None = None,
        stopping: Future[None] | None = None,
        on_lost: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        """``stopping``: done once the dispatcher begins to stop (the module's rules);
        ``on_lost``: told, on this actor's thread, the nodes whose writes it gave up."""
        super().__init__()
        self._store = store
        self._timer: Timer = timer or ThreadTimer()
        self._rng = rng or random.Random()
        self._held = held if held is not None else HeldWrites()
        self._stopping: Future[None] = stopping if stopping is not None else Future()
        self._on_lost = on_lost
        self._cancel_retry: Callable[[], None] | None = None

    def on_receive(self, message: object) -> None:
        if isinstance(message, Writes):
            # an attempt is due, or the stop gives them up: these go with those held
            if self._held or self._stopping.done():
                self._give_up(self._held.hold(message), "too many writes held")
                metrics.WRITES_HELD.set(len(self._held))
            else:
                self._attempt(message)
        elif message == _RETRY:
            self._cancel_retry = None
            if not self._stopping.done():
                self._attempt(self._held.take())

    def on_stop(self) -> None:
        if self._cancel_retry is not None:
            self._cancel_retry()
        # the new leader's sessions resend (the agents open new ones)
        self._give_up(self._held.give_up(), "the dispatcher stopped", stopped=True)

    def _attempt(self, writes: Writes) -> None:
        failed = write_batch(
            self._store, writes.nodes, writes.statuses, stop_waiting=self._stopping
        )
        if failed is None:
            failures = self._held.succeeded()
            if failures:
                metrics.WRITES_HELD.set(0)
                _log.info("dispatcher.write.recovered", failed_attempts=failures)
            return
        unwritten, error = failed
        self._give_up(self._held.hold(unwritten), "too many writes held")
        metrics.WRITES_HELD.set(len(self._held))
        if self._stopping.done():
            return  # abandoned: the stop gives it up
        delay = self._held.failed(self._rng)
        _log.error(
            "dispatcher.write.failed",
            nodes=len(unwritten.nodes),
            statuses=len(unwritten.statuses),
            error=str(error),
            attempt=self._held.failures,
            retry_in=None if delay is None else round(delay, 3),
        )
        if delay is None:
            self._give_up(self._held.give_up(), f"the store failed every attempt: {error}")
            return
        ref = self.actor_ref

        def retry() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(_RETRY)

        self._cancel_retry = self._timer.call_later(delay, retry)

    def _give_up(self, lost: Lost, reason: str, *, stopped: bool = False) -> None:
        """Log ``lost``; unless the dispatcher stopped (its stop closes every session),
        tell ``on_lost`` its nodes."""
        if not lost:
            return
        metrics.WRITES_GIVEN_UP.inc(lost.nodes + lost.statuses)
        metrics.WRITES_HELD.set(len(self._held))
        _log.error(
            "dispatcher.write.given_up",
            reason=reason,
            nodes=lost.nodes,
            statuses=lost.statuses,
            node_ids=list(lost.node_ids),
            task_ids=list(lost.task_ids),
        )
        if not stopped and self._on_lost is not None:
            self._on_lost(lost.affected)


def write_batch(
    store: MemoryStore,
    node_writes: Sequence[NodeWrite],
    statuses: Sequence[PendingStatus],
    *,
    stop_waiting: Future[None] | None = None,
) -> tuple[Writes, StoreError] | None:
    """Write in one batch, each write judged against the store as it is then; writes
    that lost a race with another writer go again. None, or the writes of a batch the
    store failed (some may have committed; ``stop_waiting`` done: abandoned) and its
    error."""
    attempt, group = 1, STATUS_GROUP
    while True:
        groups = [statuses[i : i + group] for i in range(0, len(statuses), group)]
        try:
            result = store.batch(
                partial(_fill, node_writes=node_writes, groups=groups),
                stop_waiting=stop_waiting,
            )
        except StoreError as exc:
            return Writes(tuple(node_writes), tuple(statuses)), exc
        retry: list[NodeWrite] = []
        alone: list[PendingStatus] = []  # statuses of rejected groups: one by one
        for i, error in result.errors:
            # Nodes and tasks have other writers (the manager-status keeper, the CA, the
            # control API; the orchestrator, the scheduler): a write that lost a race
            # re-reads its object and goes again.
            again = isinstance(error, ConflictError) and attempt < WRITE_ATTEMPTS
            if i >= len(node_writes):
                rejected = groups[i - len(node_writes)]
                if len(rejected) > 1 or again:
                    alone.extend(rejected)
                    continue
            elif again:
                retry.append(node_writes[i])
                continue
            _log.warning("dispatcher.write.rejected", error=str(error))
        _log.debug(
            "dispatcher.write.complete",
            nodes=len(node_writes),
            statuses=len(statuses),
            proposals=result.proposals,
        )
        if not retry and not alone:
            return None
        node_writes, statuses, attempt, group = retry, alone, attempt + 1, 1
