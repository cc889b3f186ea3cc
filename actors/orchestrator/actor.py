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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from actors.orchestrator.enforcer import enforce_constraints
from actors.orchestrator.history import trim
from actors.orchestrator.reaper import reap
from actors.orchestrator.reconcile import reconcile_services
from actors.orchestrator.restart import RestartHistory
from actors.orchestrator.settled import is_progress, is_settled
from actors.orchestrator.state import (
    CreateTask,
    DeleteService,
    DeleteTask,
    Effect,
    Plan,
    SetDesiredState,
    SetServiceSpec,
    SetServiceStatus,
    SetUpdateStatus,
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
from actors.store import (
    Action,
    Batch,
    Event,
    MemoryStore,
    ReadTx,
    StoreError,
    WriteTx,
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


def _read(tx: ReadTx, ids: set[str] | None) -> Snapshot:
    """Copy out the services (all when ``ids`` is None), their tasks and every node."""
    if ids is None:
        all_services = services.list_all(tx)
        all_tasks = tasks.list_all(tx)
    else:
        all_services = [s for s in (services.get(tx, i) for i in ids) if s is not None]
        all_tasks = [t for i in ids for t in tasks.by_service(tx, i)]
    cluster = clusters.get_default(tx)
    retention = (
        cluster.spec.orchestration.task_history_retention_limit if cluster is not None else 5
    )
    return Snapshot.build(all_services, all_tasks, nodes.list_all(tx), retention)


class _ReconcileActor(StoreReactor):
    subsystem: ClassVar[str] = "orchestrator"
    watched: ClassVar[frozenset[ObjectKind]] = _KINDS  # what its _apply reads

    def __init__(self, ctx: ChildContext | None, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(ctx, store, **kwargs)
        self._dirty: set[str] = set()
        self._full = True
        self._wake_at: float | None = None  # a plan asked to run again then
        # nodes whose change matters, for the next tick: a pass over the services they
        # concern (``_node_scope``), not over everything (a drain of 100 nodes at
        # 100,000 tasks made each tick a pass over every task)
        self._nodes_changed: set[str] = set()
        self._scope_nodes: set[str] | None = None  # this tick's changed nodes (None: all)

    def on_start(self) -> None:
        self._resync()
        self._log.info(f"{self.subsystem}.started")
        self._request_tick(0.0)

    def _resync(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        self._watcher = self._store.watch(kinds=self.watched, notify=self._on_events, grows=True)
        self._full = True  # everything before the watch started is re-read

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        raise NotImplementedError

    def _node_scope(self, tx: ReadTx, node_ids: set[str]) -> set[str]:
        """The services a change of these nodes concerns: those with a task on one."""
        return {t.service_id for n in node_ids for t in tasks.by_node(tx, n)}

    def _read_dirty(
        self, tx: ReadTx, full: bool, ids: set[str], node_ids: set[str]
    ) -> tuple[Snapshot, set[str]]:
        if full:
            snapshot = _read(tx, None)
            return snapshot, set(snapshot.services) | set(snapshot.tasks)
        if node_ids:
            ids = ids | self._node_scope(tx, node_ids)
        return _read(tx, ids), ids

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
        if not full and not dirty and not node_ids:
            self._arm_wake()
            return TickReport(events)
        snapshot, ids = self._store.view(lambda tx: self._read_dirty(tx, full, dirty, node_ids))
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
        report = TickReport(events, full, len(ids), written, failed, plan.wake_at)
        if written or failed:
            kinds = Counter(_describe(e) for e in plan.effects)
            self._log.info(f"{self.subsystem}.tick.complete", **dataclasses.asdict(report), **kinds)
        return report

    # --- writing -----------------------------------------------------------------------

    def _write(self, effects: list[Effect]) -> tuple[int, int]:
        if not effects:
            return 0, 0
        sent: list[tuple[int, Effect]] = []  # (outcome index, effect)
        refused: list[Effect] = []

        def fill(batch: Batch) -> None:
            for effect in effects:
                before = len(batch.outcomes)
                try:
                    batch.update(_writer(effect))
                except StoreError:
                    refused.append(effect)
                    continue
                if len(batch.outcomes) > before:
                    sent.append((before, effect))

        try:
            outcomes = self._store.batch(fill).outcomes
            failed = refused + [e for i, e in sent if outcomes[i] is not None]
        except StoreError as exc:  # the proposal failed: outcome unknown, redo everything
            self._log.warning(f"{self.subsystem}.write.failed", error=str(exc))
            self._full = True
            return 0, len(effects)
        for effect in failed:
            self._dirty.add(_service_of(effect))
        return len(sent) - (len(failed) - len(refused)), len(failed)

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

    def _resync(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        found, self._watcher = self._store.view_and_watch(
            nodes.list_all, kinds=_KINDS, notify=self._on_events, grows=True
        )
        self._usable = {n.id for n in found if node_usable(n)}
        self._settled.clear()
        self._created.clear()
        self._full = True

    def _apply(self, event: Event) -> None:
        obj = event.object
        if isinstance(obj, Service):
            self._dirty.add(obj.id)
        elif isinstance(obj, Task):
            if event.action == Action.DELETE:
                self._dirty.add(obj.service_id)
            elif event.old is None and obj.id in self._created:
                self._created.discard(obj.id)  # the plan that made it counted it
            elif obj.service_id in self._settled and is_progress(obj, event.old, self._usable):
                pass
            elif task_matters(obj, event.old):
                self._dirty.add(obj.service_id)
        elif isinstance(obj, Node):
            if event.action != Action.DELETE and node_usable(obj):
                self._usable.add(obj.id)
            else:
                self._usable.discard(obj.id)
            if event.action != Action.UPDATE or node_matters(obj, event.old):
                self._nodes_changed.add(obj.id)

    def _node_scope(self, tx: ReadTx, node_ids: set[str]) -> set[str]:
        """A node's change concerns the services with a task on it, and every service
        not settled (global services place a task on each node; rebalances, updates and
        restarts read the nodes): a settled service without a task there has nothing
        to do (settled.py)."""
        unsettled = {s.id for s in services.list_all(tx) if s.id not in self._settled}
        return super()._node_scope(tx, node_ids) | unsettled

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        self._created.clear()  # their echoes came before this tick's drain ended
        plan = reconcile_services(snapshot, ids, now, self._rng, self._history)
        written = effect_services(plan.effects)
        for sid in ids:
            service = snapshot.services.get(sid)
            if (
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
                self._dirty.add(obj.service_id)
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

    def _decide(self, snapshot: Snapshot, ids: set[str], now: float) -> Plan:
        return reap(snapshot, ids)


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


# --- helpers ---------------------------------------------------------------------------


def _service_of(effect: Effect) -> str:
    if isinstance(effect, CreateTask):
        return effect.task.service_id
    if isinstance(effect, DeleteTask):
        return effect.task.service_id
    if isinstance(effect, DeleteService):
        return effect.service.id
    return effect.service_id


def _describe(effect: Effect) -> str:
    if isinstance(effect, SetDesiredState):
        return f"desired_{effect.state.label}"
    return {
        CreateTask: "created",
        DeleteTask: "deleted_tasks",
        DeleteService: "deleted_services",
        SetUpdateStatus: "update_status",
        SetServiceSpec: "rollbacks",
        SetServiceStatus: "service_status",
    }[type(effect)]


def _writer(effect: Effect) -> Callable[[WriteTx], None]:
    """The sub-transaction carrying out one effect against the objects as they are now."""

    def write(tx: WriteTx) -> None:
        if isinstance(effect, CreateTask):
            service = services.get(tx, effect.task.service_id)
            if (
                service is not None
                and not service.pending_delete
                and service.spec_version == effect.task.spec_version
            ):
                tx.create(effect.task)
        elif isinstance(effect, SetDesiredState):
            task = tasks.get(tx, effect.task_id)
            if task is not None and task.desired_state < effect.state:
                tx.update(dataclasses.replace(task, desired_state=effect.state))
        elif isinstance(effect, DeleteTask):
            task = tasks.get(tx, effect.task.id)
            if task is not None and task.meta.version == effect.task.meta.version:
                tx.delete(task)
        elif isinstance(effect, SetUpdateStatus):
            service = services.get(tx, effect.service_id)
            if service is not None and service.spec_version == effect.spec_version:
                tx.update(dataclasses.replace(service, update_status=effect.status))
        elif isinstance(effect, SetServiceSpec):
            service = services.get(tx, effect.service_id)
            if service is not None and service.spec_version == effect.spec_version:
                new = effect.service
                tx.update(
                    dataclasses.replace(
                        service,
                        spec=new.spec,
                        previous_spec=new.previous_spec,
                        spec_version=new.spec_version,
                        update_status=new.update_status,
                        spec_history=trim(
                            new.spec_history, clusters.orchestration(tx).service_history_limit
                        ),
                    )
                )
        elif isinstance(effect, SetServiceStatus):
            service = services.get(tx, effect.service_id)
            if service is not None and service.spec_version == effect.spec_version:
                changes: dict[str, object] = {}
                if effect.job_status is not None:
                    changes["job_status"] = effect.job_status
                if effect.rebalance_status is not None:
                    changes["rebalance_status"] = effect.rebalance_status
                tx.update(dataclasses.replace(service, **changes))  # type: ignore[arg-type]
        else:
            service = services.get(tx, effect.service.id)
            if (
                service is not None
                and service.pending_delete
                and not tasks.by_service(tx, service.id)
            ):
                tx.delete(service)

    return write


def effect_services(effects: Iterable[Effect]) -> set[str]:
    """The service ids a list of effects touches (for tests and logs)."""
    return {_service_of(e) for e in effects}
