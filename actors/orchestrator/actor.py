"""``OrchestratorActor`` and ``TaskReaperActor``: leader-only shells around the pure cores.

Rules (the same for both):
- Built from the store: ``on_start`` starts watching and does a full pass over every
  service, so nothing missed during a leader change is lost. A closed watch (reset after a
  snapshot restore, or overflow) makes the next tick re-read everything.
- The watch callback only asks for a tick: the first event after a quiet period arms a
  timer for ``tick_interval`` seconds; every event until it fires joins the same tick.
  A tick turns the events into dirty service ids, copies what the core needs out of one
  ``store.view``, runs the core and writes the plan from here only, in one
  ``store.batch``: one sub-transaction per effect, each re-checked against the object as
  it is then (a desired state is only ever raised), so a racing status report is never
  overwritten. A write that fails marks its service dirty for the next tick.
- A plan that wants to run again later (restart delays, update delays) arms a timer for
  then; that tick is a full pass.
- Tests drive ``tick()`` directly through a proxy and may pass a manual ``timer``.
The watch-and-tick shell is ``actors.store_reactor.StoreReactor``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from actors.orchestrator.enforcer import enforce_constraints
from actors.orchestrator.reaper import reap
from actors.orchestrator.reconcile import reconcile_services
from actors.orchestrator.replicated import reconcile_slots
from actors.orchestrator.restart import RestartHistory
from actors.orchestrator.settled import (
    is_progress,
    is_settled,
    is_stopped_report,
    still_settled,
)
from actors.orchestrator.state import (
    CreateTask,
    Effect,
    Plan,
    SetDesiredState,
    SetServiceStatus,
    Snapshot,
    node_usable,
)
from actors.orchestrator.triggers import (
    node_matters,
    node_matters_to_enforcer,
    node_or_cluster_matters,
    task_matters,
    task_matters_to_reaper,
)
from actors.orchestrator.writes import (
    describe,
    effect_services,
    service_of,
    stops_first,
    write_batch,
)
from actors.store import (
    Action,
    Event,
    MemoryStore,
    ReadTx,
    StoreError,
    clusters,
    nodes,
    services,
    tasks,
)
from actors.store_reactor import DEFAULT_TICK_INTERVAL, StoreReactor
from actors.supervisor import ChildContext
from api.objects import Cluster, Node, ObjectKind, Service, Task

__all__ = [
    "DEFAULT_TICK_INTERVAL",
    "ConstraintEnforcerActor",
    "OrchestratorActor",
    "TaskReaperActor",
    "TickReport",
]

RETRY_INTERVAL = 0.5
WRITE_SLICE = 2_000  # effects per store batch of a tick (``_write``): 4 proposals
_KINDS = frozenset({ObjectKind.NODE, ObjectKind.SERVICE, ObjectKind.TASK, ObjectKind.CLUSTER})


@dataclass(frozen=True)
class TickReport:
    """What one tick did (for tests and logs)."""

    events: int = 0
    full: bool = False
    services: int = 0
    written: int = 0
    failed: int = 0
    wake_at: float | None = None
    slots: int = 0  # slots passed over in services read for some slots only


# service id -> the slots a tick passes over in it (the others are left alone)
_Slots = dict[str, set[int]]


def _task_id(task: Task) -> str:
    return task.id


def _read(tx: ReadTx, ids: set[str] | None, partial: _Slots | None = None) -> Snapshot:
    """Copy out the services (all when ``ids`` is None), their tasks and every node;
    and the services of ``partial`` with the tasks of those slots only."""
    if ids is None:
        all_services = services.list_all(tx)
        all_tasks = tasks.list_all(tx)
    else:
        all_services = [s for s in (services.get(tx, i) for i in ids) if s is not None]
        all_tasks = [t for i in ids for t in tasks.by_service(tx, i)]
    for sid, wanted in (partial or {}).items():
        service = services.get(tx, sid)
        if service is not None:
            all_services.append(service)
            # through the slot index: a drain of 100 nodes at 100,000 tasks concerns a few
            # slots of every service, and reading each service's tasks made every tick of
            # it a pass over (and a sort of) all 100,000
            found = [t for slot in wanted for t in tasks.by_slot(tx, sid, slot)]
            found.sort(key=_task_id)  # the order by_service gives
            all_tasks.extend(found)
    cluster = clusters.get_default(tx)
    retention = (
        cluster.spec.orchestration.task_history_retention_limit if cluster is not None else 5
    )
    return Snapshot.build(all_services, all_tasks, nodes.list_all(tx), retention)


class _ReconcileActor(StoreReactor):
    subsystem: ClassVar[str] = "orchestrator"
    watched: ClassVar[frozenset[ObjectKind]] = _KINDS  # what its _apply reads

    def __init__(
        self,
        ctx: ChildContext | None,
        store: MemoryStore,
        *,
        write_slice: int = WRITE_SLICE,
        **kwargs: Any,
    ) -> None:
        super().__init__(ctx, store, **kwargs)
        self._write_slice = max(1, write_slice)
        self._dirty: set[str] = set()
        self._full = True
        self._wake_at: float | None = None  # a plan asked to run again then
        # nodes whose change matters, for the next tick: a pass over the services they
        # concern (``_node_scope``), not over everything (a drain of 100 nodes at
        # 100,000 tasks made each tick a pass over every task)
        self._nodes_changed: set[str] = set()
        self._scope_nodes: set[str] | None = None  # this tick's changed nodes (None: all)
        # a change that concerns one slot of a service that allows it (``_slot_ok``): a
        # pass over that slot's tasks instead of all of the service's
        self._slots: _Slots = {}
        self._partial: _Slots = {}  # this tick's services read for some slots only

    def on_start(self) -> None:
        self._resync()
        self._log.info(f"{self.subsystem}.started")
        # a tick apart, not at once: the supervisor's "are you up" is then ahead of the
        # first full pass in the mailbox, and the next child's start waits not for it
        self._request_tick(self._tick_interval)

    def _resync(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        self._watcher = self._store.watch(kinds=self.watched, notify=self._on_events, grows=True)
        self._full = True  # everything before the watch started is re-read

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        raise NotImplementedError

    def _slot_ok(self, service: Service) -> bool:
        """Whether a pass over some slots of ``service`` does all it needs."""
        return False

    def _mark_slot(self, task: Task, slots: _Slots | None = None) -> None:
        """``task``'s change concerns its slot (a global task's: its whole service)."""
        if task.slot > 0:
            (self._slots if slots is None else slots).setdefault(task.service_id, set()).add(
                task.slot
            )
        else:
            self._dirty.add(task.service_id)

    def _node_scope(self, tx: ReadTx, node_ids: set[str], slots: _Slots) -> set[str]:
        """The services a change of these nodes concerns as a whole; the slots of their
        tasks go into ``slots``."""
        scope: set[str] = set()
        for n in node_ids:
            for t in tasks.by_node(tx, n):
                if t.slot > 0:
                    slots.setdefault(t.service_id, set()).add(t.slot)
                else:
                    scope.add(t.service_id)
        return scope

    def _read_dirty(
        self, tx: ReadTx, full: bool, ids: set[str], node_ids: set[str], slots: _Slots
    ) -> tuple[Snapshot, set[str], _Slots]:
        if full:
            snapshot = _read(tx, None)
            return snapshot, set(snapshot.services) | set(snapshot.tasks), {}
        if node_ids:
            ids = ids | self._node_scope(tx, node_ids, slots)
        partial: _Slots = {}
        for sid, wanted in slots.items():
            if sid in ids:
                continue
            service = services.get(tx, sid)
            if service is not None and self._slot_ok(service):
                partial[sid] = wanted
            else:
                ids.add(sid)
        return _read(tx, ids, partial), ids, partial

    # --- the tick ----------------------------------------------------------------------

    def tick(self) -> TickReport:
        """Drain the watch queue, reconcile what is dirty, write. Returns what it did."""
        self._tick_started()
        events, _ = self._drain()
        if self._wake_at is not None and self._clock() >= self._wake_at:
            self._full, self._wake_at = True, None
        full, self._full = self._full, False
        dirty, self._dirty = self._dirty, set()
        node_ids, self._nodes_changed = self._nodes_changed, set()
        slots, self._slots = self._slots, {}
        if not full and not dirty and not node_ids and not slots:
            self._arm_wake()
            return TickReport(events)
        snapshot, ids, self._partial = self._store.view(
            lambda tx: self._read_dirty(tx, full, dirty, node_ids, slots)
        )
        if full:
            self._wake_at = None
        now = self._clock()
        self._scope_nodes = None if full else node_ids
        plan = self._decide(snapshot, ids, now)
        written, failed = self._write(plan.effects)
        self._log_job_runs(plan.effects, now)
        if failed:
            self._request_tick(RETRY_INTERVAL)
        if plan.wake_at is not None:
            self._wake_at = min(plan.wake_at, self._wake_at or plan.wake_at)
        self._arm_wake()
        partial = sum(len(v) for v in self._partial.values())
        report = TickReport(events, full, len(ids), written, failed, plan.wake_at, partial)
        if written or failed:
            kinds = Counter(describe(e) for e in plan.effects)
            self._log.info(f"{self.subsystem}.tick.complete", **dataclasses.asdict(report), **kinds)
        return report

    # --- writing -----------------------------------------------------------------------

    def _write(self, effects: list[Effect]) -> tuple[int, int]:
        """Write in batches of ``write_slice`` effects, taking in the watch queue between
        them: the queue's bound is the store's size, and a tick creating 90,000 tasks
        met the echoes of its own creates and the scheduler's and workers' updates of
        them (more events than objects), overflowed and made the next tick a full pass."""
        written = failed = 0
        for start in range(0, len(effects), self._write_slice):
            if start:
                self._drain()
            try:
                # a slice's shutdowns before its creates (writes.stops_first): a drain's
                # nodes hear of theirs sooner, and both are written in groups
                wrote, refused = write_batch(
                    self._store, stops_first(effects[start : start + self._write_slice])
                )
            except StoreError as exc:  # the proposal failed: outcome unknown, redo everything
                self._log.warning(f"{self.subsystem}.write.failed", error=str(exc))
                self._full = True
                return written, failed + len(effects) - start
            for effect in refused:
                self._dirty.add(service_of(effect))
            written, failed = written + wrote, failed + len(refused)
        return written, failed

    def _log_job_runs(self, effects: list[Effect], now: float) -> None:
        for e in effects:
            if not isinstance(e, SetServiceStatus) or e.job_status is None:
                continue
            status = e.job_status
            if status.started_at == now and status.iteration:
                self._log.info(
                    f"{self.subsystem}.job.run_started",
                    service_id=e.service_id,
                    iteration=status.iteration,
                    scheduled_at=status.last_scheduled,
                    message=status.message,
                )

    # --- waking up ---------------------------------------------------------------------

    def _arm_wake(self) -> None:
        if self._wake_at is not None:
            self._request_tick(max(0.0, self._wake_at - self._clock()))


class OrchestratorActor(_ReconcileActor):
    """Replicated and global services, restarts, rolling updates, ``service rm``
    marking (``reconcile.reconcile_services``). The echo of a task it created itself,
    and the progress of a settled service's task (settled.py), make no pass."""

    subsystem = "orchestrator"

    def __init__(self, ctx: ChildContext | None, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(ctx, store, **kwargs)
        self._history = RestartHistory()
        self._settled: set[str] = set()  # service ids (settled.py), as of their last pass
        self._usable: set[str] = set()  # node ids whose tasks may run (state.node_usable)
        self._created: set[str] = set()  # task ids created by the last tick's write
        # changed nodes whose tasks' slots need a pass: created, removed, or usable no
        # more (or again); any other change concerns the unsettled services only
        self._slot_nodes: set[str] = set()

    def _resync(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        found, self._watcher = self._store.view_and_watch(
            nodes.list_all, kinds=_KINDS, notify=self._on_events, grows=True
        )
        self._usable = {n.id for n in found if node_usable(n)}
        self._slot_nodes.clear()
        self._settled.clear()
        self._created.clear()
        self._full = True

    def _apply(self, event: Event) -> None:
        obj = event.object
        if isinstance(obj, Service):
            self._dirty.add(obj.id)
        elif isinstance(obj, Task):
            deleted = event.action == Action.DELETE
            if not deleted and event.old is None and obj.id in self._created:
                self._created.discard(obj.id)  # the plan that made it counted it
            elif obj.service_id in self._settled:
                if deleted or not (
                    is_progress(obj, event.old, self._usable) or is_stopped_report(obj, event.old)
                ):
                    self._mark_slot(obj)
            elif deleted or task_matters(obj, event.old):
                self._dirty.add(obj.service_id)
        elif isinstance(obj, Node):
            was = obj.id in self._usable
            usable = event.action != Action.DELETE and node_usable(obj)
            if usable:
                self._usable.add(obj.id)
            else:
                self._usable.discard(obj.id)
            if event.action != Action.UPDATE or node_matters(obj, event.old):
                self._nodes_changed.add(obj.id)
                if event.action != Action.UPDATE or usable != was:
                    self._slot_nodes.add(obj.id)

    def _slot_ok(self, service: Service) -> bool:
        return service.id in self._settled

    def _node_scope(self, tx: ReadTx, node_ids: set[str], slots: _Slots) -> set[str]:
        """A node's change concerns every service not settled (global services place a
        task on each node; rebalances, updates and restarts read the nodes), and the
        slots of the tasks on it when it was created, removed, or became usable or
        unusable: a settled service reads nothing else of a node (settled.py). After a
        leader change 1,000 nodes go UNKNOWN and back to READY, and each step was a pass
        over every slot of every service."""
        unsettled = {s.id for s in services.list_all(tx) if s.id not in self._settled}
        slot_nodes = node_ids & self._slot_nodes
        self._slot_nodes -= node_ids
        return super()._node_scope(tx, slot_nodes, slots) | unsettled

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        self._created.clear()  # their echoes came before this tick's drain ended
        skipped: set[str] = set()  # settled on usable nodes: no pass made (settled.py)
        plan = reconcile_services(snapshot, ids, now, self._rng, self._history, skipped)
        for sid, wanted in sorted(self._partial.items()):
            settled = snapshot.services[sid]
            slots: dict[int, list[Task]] = {slot: [] for slot in wanted}
            for t in snapshot.tasks_of(sid):
                slots[t.slot].append(t)
            part = reconcile_slots(settled, slots, snapshot.nodes, now, self._rng, self._history)
            if not still_settled(settled, slots, part):
                self._settled.discard(sid)
            plan.extend(part)
        written = effect_services(plan.effects)
        for sid in ids:  # passed over as a whole
            service = snapshot.services.get(sid)
            if sid in skipped or (
                service is not None
                and sid not in written
                and is_settled(service, snapshot.tasks_of(sid))
            ):
                self._settled.add(sid)
            else:
                self._settled.discard(sid)
        self._created.update(e.task.id for e in plan.effects if isinstance(e, CreateTask))
        return plan


class TaskReaperActor(_ReconcileActor):
    """Task history retention, deleted and removed services (``reaper.reap``)."""

    subsystem = "taskreaper"

    def _apply(self, event: Event) -> None:
        obj = event.object
        if isinstance(obj, Task):
            if event.action == Action.DELETE or task_matters_to_reaper(obj, event.old):
                self._mark_slot(obj)  # history is kept per slot
        elif isinstance(obj, Service):
            self._dirty.add(obj.id)
        elif isinstance(obj, Cluster) and (
            event.action != Action.UPDATE or node_or_cluster_matters(obj, event.old)
        ):
            self._full = True
        elif isinstance(obj, Node) and (
            event.action != Action.UPDATE or node_or_cluster_matters(obj, event.old)
        ):
            self._nodes_changed.add(obj.id)  # whether its tasks are finished

    def _slot_ok(self, service: Service) -> bool:
        return not service.pending_delete  # a removed service's tasks go all together

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        return reap(snapshot, ids | set(self._partial))


class ConstraintEnforcerActor(_ReconcileActor):
    """Tasks whose node no longer satisfies their constraints or reservations
    (``enforcer.enforce_constraints``): a node's change is a pass over that node's tasks
    (a start-up or reset pass: over every node)."""

    subsystem = "constraintenforcer"
    watched = frozenset({ObjectKind.NODE})  # not every task's change: it reads the store

    def _apply(self, event: Event) -> None:
        obj = event.object
        deleted = event.action == Action.DELETE
        if isinstance(obj, Node) and not deleted and node_matters_to_enforcer(obj, event.old):
            self._nodes_changed.add(obj.id)

    def _slot_ok(self, service: Service) -> bool:
        return True  # it checks the tasks on the changed nodes only

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        tasks_all = [t for ts in snapshot.tasks.values() for t in ts]
        plan = enforce_constraints(snapshot.nodes, tasks_all, self._scope_nodes)
        for e in plan.effects:
            if isinstance(e, SetDesiredState):
                self._log.info(
                    "constraintenforcer.task.shut_down",
                    task_id=e.task_id,
                    service_id=e.service_id,
                    reason=e.reason,
                )
        return plan
