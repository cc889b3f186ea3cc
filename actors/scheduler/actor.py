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
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from actors.log import get_logger
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
    WatchClosed,
    Watcher,
    WriteTx,
    nodes,
    services,
    tasks,
)
from actors.supervisor import ChildContext, SupervisedActor, ThreadTimer, Timer
from api.objects import Node, ObjectKind, Service, Task
from api.task_state import TaskState

__all__ = ["DEFAULT_TICK_INTERVAL", "SchedulerActor", "TickReport"]

DEFAULT_TICK_INTERVAL = 0.05
_KINDS = frozenset({ObjectKind.NODE, ObjectKind.SERVICE, ObjectKind.TASK})


@dataclass(frozen=True)
class _Tick:
    pass


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


class SchedulerActor(SupervisedActor):
    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        *,
        tick_interval: float = DEFAULT_TICK_INTERVAL,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(ctx)
        self._store = store
        self._tick_interval = tick_interval
        self._clock = clock
        self._timer: Timer = timer or (ctx.timer if ctx is not None else ThreadTimer())
        self._log = get_logger("scheduler")
        self._core = SchedulerCore(clock=clock, rng=rng or random.Random(), logger=self._log)
        self._watcher: Watcher | None = None
        self._armed = False
        self._arm_lock = threading.Lock()
        self._cancel: Callable[[], None] | None = None
        self._stopping = False

    # --- lifecycle ---------------------------------------------------------------------

    def on_start(self) -> None:
        self._resync()
        self._log.info("scheduler.started", nodes=len(self._core.nodes))
        self._request_tick()

    def on_stop(self) -> None:
        self._stopping = True
        with self._arm_lock:
            cancel, self._cancel = self._cancel, None
        if cancel is not None:
            cancel()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self._log.info("scheduler.stopped")

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Tick):
            return self.tick()
        return None

    # --- the tick ----------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Drain the watch queue into the core, decide, write. Returns what it did."""
        with self._arm_lock:
            self._armed = False
            self._cancel = None
        events, resynced = self._drain()
        decisions = self._core.schedule()
        assigned = written = failed = 0
        if decisions:
            assigned, written, failed = self._write(decisions)
        if failed or self._core.dirty:
            self._request_tick()
        report = TickReport(events, resynced, assigned, written, failed, len(self._core.waiting))
        if assigned or written or failed:
            self._log.info("scheduler.tick.complete", **dataclasses.asdict(report))
        return report

    def pending(self) -> dict[str, Task]:
        """The tasks waiting for a node (a copy; for tests and inspection)."""
        return dict(self._core.waiting)

    def _drain(self) -> tuple[int, bool]:
        count = 0
        resynced = False
        while True:
            if self._watcher is None:
                self._resync()
                resynced = True
            assert self._watcher is not None
            try:
                events = self._watcher.poll()
            except WatchClosed as exc:
                self._log.warning("scheduler.watch.closed", reason=exc.reason, reset=exc.reset)
                self._watcher = None
                continue
            if not events:
                return count, resynced
            for event in events:
                self._apply(event)
            count += len(events)

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
            _read_all, kinds=_KINDS, notify=self._on_events
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
        sent: list[Assignment | Unschedulable] = []
        refused: list[Assignment | Unschedulable] = []

        def fill(batch: Batch) -> None:
            todo: list[Assignment | Unschedulable] = [*decisions.assignments]
            todo.extend(decisions.unschedulable)
            for d in todo:
                try:
                    batch.update(_writer(d, now))
                except StoreError:
                    refused.append(d)
                else:
                    sent.append(d)

        try:
            outcomes: tuple[StoreError | None, ...] = self._store.batch(fill).outcomes
        except StoreError as exc:  # the proposal failed: outcome unknown, retry all
            self._log.warning("scheduler.write.failed", error=str(exc), decisions=len(sent))
            outcomes = tuple(exc for _ in sent)
        assigned = written = 0
        failed = refused
        for d, error in zip(sent, outcomes, strict=False):
            if error is not None:
                failed.append(d)
            elif isinstance(d, Assignment):
                assigned += 1
            else:
                written += 1
                self._log.info("scheduler.task.unschedulable", task_id=d.task.id, message=d.message)
        for d in failed:
            if isinstance(d, Assignment):
                self._core.revert(d)
            else:
                self._core.dirty = True
        if failed:
            self._log.info("scheduler.write.conflicts", failed=len(failed))
        return assigned, written, len(failed)

    # --- waking up ---------------------------------------------------------------------

    def _on_events(self) -> None:
        """Called by the store, from the thread that applied a change, without locks."""
        self._request_tick()

    def _request_tick(self) -> None:
        with self._arm_lock:
            if self._armed or self._stopping:
                return
            self._armed = True
            self._cancel = self._timer.call_later(self._tick_interval, self._fire)

    def _fire(self) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_Tick())


def _writer(d: Assignment | Unschedulable, now: float) -> Callable[[WriteTx], None]:
    """The sub-transaction writing one decision, from the task version the core read."""
    task = d.task
    if isinstance(d, Assignment):
        status = dataclasses.replace(
            task.status, state=TaskState.ASSIGNED, message=ASSIGNED_MESSAGE, timestamp=now
        )
        new = dataclasses.replace(task, node_id=d.node_id, status=status)
    else:
        new = dataclasses.replace(task, status=dataclasses.replace(task.status, message=d.message))

    def write(tx: WriteTx) -> None:
        tx.update(new)

    return write
