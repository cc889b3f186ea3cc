"""``SchedulerActor``: the leader-only shell around ``SchedulerCore``.

Rules:
- Built from the store: ``on_start`` reads nodes, services and tasks and starts watching
  from that same version (``view_and_watch``). A closed watch (reset after a snapshot
  restore, or overflow) makes the next tick re-read everything.
- The store's watch callback only asks for a tick: the first event after a quiet period
  arms a timer for ``tick_interval`` seconds, and every event until it fires joins the same
  tick. A tick drains the queue into the core, asks it for decisions and writes them from
  here only, as one ``store.batch``: one sub-transaction per task, each carrying the
  version the core read. A write that fails (conflict, task gone, proposal lost) is taken
  back in the core and retried on a later tick; it never loses the others.
- Tests drive ``tick()`` directly (through a proxy) and may pass a manual ``timer``.
The watch-and-tick shell is ``actors.store_reactor.StoreReactor``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.metrics import scheduler as metrics
from actors.scheduler.scheduler import (
    ASSIGNED_MESSAGE,
    Assignment,
    Decisions,
    SchedulerCore,
    Unschedulable,
)
from actors.store import (
    Action,
    Batch,
    Event,
    MemoryStore,
    ReadTx,
    StoreError,
    WriteTx,
    nodes,
    services,
    tasks,
)
from actors.store.batch import WRITES_TOGETHER
from actors.store_reactor import DEFAULT_TICK_INTERVAL, StoreReactor
from actors.supervisor import ChildContext
from api.objects import Node, ObjectKind, Service, Task, TaskStatus
from api.objects_copy import copy_object
from api.task_state import TaskState

__all__ = ["DEFAULT_TICK_INTERVAL", "SchedulerActor", "TickReport"]

_KINDS = frozenset({ObjectKind.NODE, ObjectKind.SERVICE, ObjectKind.TASK})


@dataclass(frozen=True)
class TickReport:
    """What one tick did (for tests and logs)."""

    events: int = 0
    resynced: bool = False
    assigned: int = 0
    messages_written: int = 0
    failed_writes: int = 0
    pending: int = 0


def _read_all(tx: ReadTx) -> tuple[list[Node], list[Task], list[Service]]:
    return nodes.list_all(tx), tasks.list_all(tx), services.list_all(tx)


class SchedulerActor(StoreReactor):
    subsystem = "scheduler"

    def __init__(self, ctx: ChildContext | None, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(ctx, store, **kwargs)
        self._core = SchedulerCore(clock=self._clock, rng=self._rng, logger=self._log)

    def on_start(self) -> None:
        self._resync()
        self._log.info("scheduler.started", nodes=len(self._core.nodes))
        self._request_tick(self._tick_interval)

    def on_stop(self) -> None:
        super().on_stop()
        metrics.set_pending({})  # another manager schedules now

    # --- the tick ----------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Drain the watch queue into the core, decide, write. Returns what it did."""
        self._tick_started()
        started = time.perf_counter()
        events, resynced = self._drain()
        decisions = self._core.schedule()
        assigned = written = failed = 0
        if decisions:
            assigned, written, failed = self._write(decisions)
        metrics.TICK_SECONDS.observe(time.perf_counter() - started)
        metrics.set_pending(self._core.pending_reasons())
        if failed or self._core.dirty:
            self._request_tick(self._tick_interval)
        elif not (decisions or resynced or self._core.waiting):
            # nothing waits and nothing was decided (a service created before its tasks,
            # status changes of placed tasks): no batch to wait for, hold nothing back
            self._tick_idle()
        report = TickReport(events, resynced, assigned, written, failed, len(self._core.waiting))
        if assigned or written or failed:
            self._log.info("scheduler.tick.complete", **dataclasses.asdict(report))
        return report

    def pending(self) -> dict[str, Task]:
        """The tasks waiting for a node (a copy; for tests and inspection)."""
        return dict(self._core.waiting)

    def _apply(self, event: Event) -> None:
        core = self._core
        obj = event.object
        deleted = event.action == Action.DELETE
        if isinstance(obj, Task):
            old = event.old if isinstance(event.old, Task) else None
            if deleted:
                core.task_deleted(obj)
            else:
                core.task_changed(obj, old)
        elif isinstance(obj, Node):
            if deleted:
                core.node_deleted(obj.id)
            else:
                core.node_changed(obj)
        elif isinstance(obj, Service):
            if deleted:
                core.service_deleted(obj.id)
            else:
                core.service_changed(obj)

    def _resync(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        (all_nodes, all_tasks, all_services), watcher = self._store.view_and_watch(
            _read_all, kinds=_KINDS, notify=self._on_events, grows=True
        )
        self._watcher = watcher
        self._core.reset(all_nodes, all_tasks, all_services)
        self._log.info(
            "scheduler.resync.complete",
            nodes=len(all_nodes),
            tasks=len(all_tasks),
            waiting=len(self._core.waiting),
        )

    # --- writing -----------------------------------------------------------------------

    def _write(self, decisions: Decisions) -> tuple[int, int, int]:
        now = self._clock()
        # each decision with the index of its outcome: an update can raise an earlier
        # proposal's error after its own write joined the batch (batch.py)
        sent: list[tuple[Assignment | Unschedulable, int]] = []
        refused: list[Assignment | Unschedulable] = []

        def fill(batch: Batch) -> None:
            todo: list[Assignment | Unschedulable] = [*decisions.assignments]
            todo.extend(decisions.unschedulable)
            # placements written together (Batch.update_together): one that conflicts at
            # commit fails its group, whose tasks the next tick places again
            groups = (todo[i : i + WRITES_TOGETHER] for i in range(0, len(todo), WRITES_TOGETHER))
            written, refusals, unwritten = batch.update_groups(groups, lambda d: _writer(d, now))
            sent.extend(written)
            refused.extend(refusals)
            refused.extend(unwritten)

        unknown: StoreError | None = None
        outcomes: tuple[StoreError | None, ...] = ()
        try:
            outcomes = self._store.batch(fill).outcomes
        except StoreError as exc:  # a proposal failed: outcome unknown, retry all
            self._log.warning("scheduler.write.failed", error=str(exc), decisions=len(sent))
            unknown = exc
        assigned = written = 0
        failed = refused
        for d, slot in sent:
            error = unknown or outcomes[slot]
            if error is not None:
                failed.append(d)
            elif isinstance(d, Assignment):
                assigned += 1
                metrics.TASK_WAIT_SECONDS.observe(max(0.0, now - d.task.meta.created_at))
            else:
                written += 1
                self._log.info("scheduler.task.unschedulable", task_id=d.task.id, message=d.message)
        metrics.SCHEDULED.inc(assigned)  # once a tick: a counter's increment takes its lock
        for d in failed:
            if isinstance(d, Assignment):
                self._core.revert(d)
            else:
                self._core.dirty = True
        if failed:
            self._log.info("scheduler.write.conflicts", failed=len(failed))
        return assigned, written, len(failed)


def _writer(d: Assignment | Unschedulable, now: float) -> Callable[[WriteTx], None]:
    """The sub-transaction writing one decision, from the task version the core read."""
    task = d.task
    if isinstance(d, Assignment):
        old = task.status
        # built directly: dataclasses.replace walks the fields by name first, twice the
        # cost, and the scheduler writes one status for every task placed
        status = TaskStatus(
            now,
            TaskState.ASSIGNED,
            ASSIGNED_MESSAGE,
            old.err,
            old.container_status,
            old.port_status,
            old.started_at,
        )
        # copy_object: dataclasses.replace's walk of the task's fields, without the walk
        new = copy_object(task, task.meta, {"node_id": d.node_id, "status": status})
    else:
        new = dataclasses.replace(task, status=dataclasses.replace(task.status, message=d.message))

    def write(tx: WriteTx) -> None:
        tx.update(new, handed_over=True)  # built here, for this write alone

    return write
