"""The orchestrator's writes: each effect of a plan as the sub-transaction that carries it
out against the objects as they are when it runs (state.py: effects are intents), and how
effects are named in logs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeGuard

from actors.orchestrator.history import trim
from actors.orchestrator.state import (
    CreateTask,
    DeleteService,
    DeleteTask,
    Effect,
    SetDesiredState,
    SetServiceSpec,
    SetServiceStatus,
    SetUpdateStatus,
)
from actors.store import Batch, MemoryStore, WriteTx, clusters, services, tasks
from actors.store.batch import WRITES_TOGETHER
from api.objects import Service
from api.objects_copy import copy_object

__all__ = [
    "describe",
    "effect_services",
    "service_of",
    "stops_first",
    "write_batch",
    "write_groups",
    "writer",
]


def service_of(effect: Effect) -> str:
    if isinstance(effect, CreateTask):
        return effect.task.service_id
    if isinstance(effect, DeleteTask):
        return effect.task.service_id
    if isinstance(effect, DeleteService):
        return effect.service.id
    return effect.service_id


def describe(effect: Effect) -> str:
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


def _current(service: Service | None, spec_version: int) -> TypeGuard[Service]:
    """The service an effect was planned for is still there as planned: neither changed
    since nor being removed (``service rm`` may commit between a plan and its write: a
    removed service's status or spec changing after would show as an update after its
    removal, ``docker events`` included)."""
    return (
        service is not None and not service.pending_delete and service.spec_version == spec_version
    )


def writer(effect: Effect) -> Callable[[WriteTx], None]:
    """The sub-transaction carrying out one effect against the objects as they are now."""

    def write(tx: WriteTx) -> None:
        if isinstance(effect, CreateTask):
            service = services.get(tx, effect.task.service_id)
            if (
                service is not None
                and not service.pending_delete
                and service.spec_version == effect.task.spec_version
            ):
                tx.create(effect.task, handed_over=True)  # built for this effect alone
        elif isinstance(effect, SetDesiredState):
            task = tasks.get(tx, effect.task_id)
            if task is not None and task.desired_state < effect.state:
                # copy_object: dataclasses.replace's walk of the fields, without the walk
                # (a drain of 100 nodes at 100,000 tasks makes 10,000 of these)
                stopped = copy_object(task, task.meta, {"desired_state": effect.state})
                tx.update(stopped, handed_over=True)
        elif isinstance(effect, DeleteTask):
            task = tasks.get(tx, effect.task.id)
            if task is not None and task.meta.version == effect.task.meta.version:
                tx.delete(task)
        elif isinstance(effect, SetUpdateStatus):
            service = services.get(tx, effect.service_id)
            if _current(service, effect.spec_version):
                tx.update(dataclasses.replace(service, update_status=effect.status))
        elif isinstance(effect, SetServiceSpec):
            service = services.get(tx, effect.service_id)
            if _current(service, effect.spec_version):
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
            if _current(service, effect.spec_version):
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
    return {service_of(e) for e in effects}


def stops_first(effects: Sequence[Effect]) -> list[Effect]:
    """``effects`` with each run of desired-state changes and creates reordered: the
    changes first, then the creates, each kind in its order. A drain makes a shutdown
    and a replacement per task, alternating: so reordered, the drained nodes hear of
    their shutdowns sooner, and each kind is written in groups (``write_groups``). A run
    that changes a task it creates is left as it is."""
    out: list[Effect] = []
    run: list[Effect] = []

    def flush() -> None:
        created = {e.task.id for e in run if isinstance(e, CreateTask)}
        changed = [e for e in run if isinstance(e, SetDesiredState)]
        if not created or not changed or any(e.task_id in created for e in changed):
            out.extend(run)
        else:
            out.extend(changed)
            out.extend(e for e in run if isinstance(e, CreateTask))
        run.clear()

    for effect in effects:
        if isinstance(effect, (CreateTask, SetDesiredState)):
            run.append(effect)
            continue
        flush()
        out.append(effect)
    flush()
    return out


def _group_of(effect: Effect) -> tuple[tuple[object, ...], str] | None:
    """What the effects written together with ``effect`` share, and the task it writes;
    None: it is written alone (write_groups)."""
    if isinstance(effect, CreateTask):
        return ("create", effect.task.service_id, effect.task.spec_version), effect.task.id
    if isinstance(effect, SetDesiredState):
        return ("desired state",), effect.task_id
    return None


def write_groups(effects: Sequence[Effect]) -> Iterator[Sequence[Effect]]:
    """``effects`` in order, as the sub-transactions that write them: up to
    ``WRITES_TOGETHER`` consecutive creates of one service at one spec version together
    (a service of 10,000 replicas makes 10,000 creates at once), up to as many
    consecutive desired-state changes of distinct tasks together (a drain of 100 nodes
    makes 10,000), every other effect alone."""
    run: list[Effect] = []
    run_shares: tuple[object, ...] = ()
    task_ids: set[str] = set()
    for effect in effects:
        group = _group_of(effect)
        if run and (
            group is None
            or group[0] != run_shares
            or group[1] in task_ids
            or len(run) == WRITES_TOGETHER
        ):
            yield run
            run, task_ids = [], set()
        if group is None:
            yield (effect,)
            continue
        run_shares, task_id = group
        run.append(effect)
        task_ids.add(task_id)
    if run:
        yield run


def write_batch(store: MemoryStore, effects: Sequence[Effect]) -> tuple[int, list[Effect]]:
    """One store batch, a sub-transaction per group of effects (write_groups): how many
    effects were written, and those refused or failed. StoreError when the proposal
    failed (outcome unknown)."""
    written: list[tuple[Effect, int]] = []  # (effect, outcome index)
    refused: list[Effect] = []

    def fill(batch: Batch) -> None:
        done, refusals, _wrote_nothing = batch.update_groups(write_groups(effects), writer)
        written.extend(done)
        refused.extend(refusals)

    outcomes = store.batch(fill).outcomes
    failed = [e for e, i in written if outcomes[i] is not None]
    return len(written) - len(failed), refused + failed
