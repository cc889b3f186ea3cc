"""Jobs: services whose tasks run to completion (``replicated-job``, ``global-job``).

Rules (SwarmKit's ``manager/orchestrator/jobs``, with runs on a schedule added):
- A job works in *runs*. ``Service.job_status.iteration`` names the current one and each
  task records the run it was created for (``Task.job_iteration``). A new run starts:
  * unscheduled jobs: at creation and at every spec change (``service update``,
    ``--force`` included): the run's ``spec_version`` is not the service's;
  * scheduled jobs (``--schedule``, cron.py): when a due time passes, and when
    ``service update --force`` asks for a run now; other spec changes only change what
    the next run runs.
- Tasks of earlier runs that are still runnable are shut down ("superseded"), except for
  a scheduled job with policy ``allow``, whose earlier runs go on to their end (without
  restarts).
- Job tasks have desired state COMPLETE: the worker runs them until they exit. A task that
  exits 0 is COMPLETE and its slot is *done*: it is never run again in this run, whatever
  the restart condition. A task that failed, or vanished with its node, is judged by the
  restart policy (``restart.judge_slot``, attempts counted per run and slot): replaced in
  its slot (held at desired READY for the delay, then raised to COMPLETE), or the slot is
  *given up* (condition none, max attempts reached).
- ``replicated-job``: slots 1..total_completions, at most ``max_concurrent`` of them (0:
  all) holding a task that may run at once; restarts first, then new slots, lowest first.
  ``global-job``: one slot per eligible node (``global_.eligible_nodes``; new tasks only
  on active nodes), all at once, a node that becomes eligible during the run included; a
  task on a node no longer eligible is shut down and not replaced.
- A run is COMPLETED once every slot is done, FAILED once every slot is done or given up
  and one was given up; the orchestrator records that (``JobStatus.state``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from actors.orchestrator.cron import CronAction, judge_schedule
from actors.orchestrator.global_ import eligible_nodes
from actors.orchestrator.restart import (
    RestartHistory,
    SlotKey,
    SlotState,
    judge_slot,
    promote_delayed,
    replacement,
    slot_order,
)
from actors.orchestrator.state import (
    CreateTask,
    Plan,
    SetDesiredState,
    SetServiceStatus,
    is_dead,
    new_task,
    newest,
)
from api.enums import JobState, NodeAvailability, SchedulePolicy
from api.ids import RandomBits
from api.objects import JobStatus, Node, Service, Task
from api.specs import GlobalJob, ReplicatedJob
from api.task_state import TaskState

__all__ = ["JobProgress", "is_job", "job_progress", "reconcile_job"]

SUPERSEDED = "superseded by a new run of the job"


def is_job(service: Service) -> bool:
    return isinstance(service.spec.mode, ReplicatedJob | GlobalJob)


def _runnable(task: Task) -> bool:
    """A job task that may still run: desired at most COMPLETE, not finished."""
    return task.desired_state <= TaskState.COMPLETE and not task.status.state.is_terminal


@dataclass(frozen=True, slots=True)
class JobProgress:
    """Where the current run stands (``service ls``, the CLI's wait)."""

    iteration: int
    state: JobState
    completed: int  # slots done
    total: int  # slots of the run (global: nodes that got a task)
    running: int  # tasks RUNNING
    concurrency: int  # replicated: max_concurrent; global: total


def job_progress(service: Service, tasks: Sequence[Task]) -> JobProgress:
    status = service.job_status or JobStatus()
    current = [t for t in tasks if t.job_iteration == status.iteration and status.iteration]
    done = {_key(t) for t in current if t.status.state == TaskState.COMPLETE}
    running = sum(1 for t in current if _runnable(t) and t.status.state == TaskState.RUNNING)
    mode = service.spec.mode
    if isinstance(mode, ReplicatedJob):
        total = mode.total_completions
        concurrency = mode.max_concurrent or total
    else:
        total = len({t.node_id for t in current if t.node_id})
        concurrency = total
    state = status.state if status.iteration else JobState.RUNNING
    return JobProgress(status.iteration, state, len(done), total, running, concurrency)


def _key(task: Task) -> SlotKey:
    return task.node_id if task.slot == 0 else task.slot


# --- runs --------------------------------------------------------------------------------


def _next_run(
    service: Service, status: JobStatus | None, run_going: bool, now: float, plan: Plan
) -> tuple[JobStatus, bool]:
    """The run this pass drives, and whether it is new (its status to be written)."""
    spec = service.spec
    force = spec.task.force_update
    if status is None:
        status = JobStatus(spec_version=0 if spec.schedule is None else service.spec_version)
        status = replace(status, force_update=force, state=JobState.COMPLETED)
        if spec.schedule is not None:
            plan.add(SetServiceStatus(service.id, service.spec_version, job_status=status))
    start = False
    why = ""
    last_scheduled = status.last_scheduled
    message = status.message
    if spec.schedule is None:
        if status.spec_version != service.spec_version:
            start, why = True, "the job was created or changed"
    else:
        verdict = judge_schedule(
            spec.schedule.cron,
            spec.schedule.policy,
            last_scheduled=status.last_scheduled,
            created_at=service.meta.created_at,
            now=now,
            run_going=run_going,
        )
        if verdict.next_at is not None:
            plan.wake(verdict.next_at)
        missed = f" ({verdict.missed} earlier due times missed)" if verdict.missed else ""
        if verdict.action == CronAction.RUN:
            start, why = True, f"due at {_utc(verdict.due_at)}{missed}"
            last_scheduled = verdict.due_at
        elif verdict.action == CronAction.SKIP:
            last_scheduled = verdict.due_at
            message = (
                f"run due at {_utc(verdict.due_at)} skipped{missed}: "
                f"run {status.iteration} still going"
            )
        elif verdict.error:
            message = verdict.error
        if status.force_update != force and not start:
            start, why = True, "service update --force"
    if start:
        new = JobStatus(
            iteration=status.iteration + 1,
            spec_version=service.spec_version,
            force_update=force,
            started_at=now,
            last_scheduled=last_scheduled,
            message=f"run {status.iteration + 1} started: {why}",
        )
    elif last_scheduled != status.last_scheduled or message != status.message:
        new = replace(status, last_scheduled=last_scheduled, message=message)
    else:
        return status, False
    plan.add(SetServiceStatus(service.id, service.spec_version, job_status=new))
    return new, start


def _utc(at: float | None) -> str:
    from datetime import UTC, datetime

    if at is None:
        return "?"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- one pass ----------------------------------------------------------------------------


def reconcile_job(
    service: Service,
    tasks: Sequence[Task],
    nodes: Mapping[str, Node],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
) -> Plan:
    """The writes that bring a job (replicated-job or global-job) to its desired state."""
    plan = Plan()
    old = service.job_status
    going = old is not None and old.iteration > 0 and old.state == JobState.RUNNING
    status, _started = _next_run(service, old, going, now, plan)
    run = status.iteration
    schedule = service.spec.schedule
    keep_earlier = schedule is not None and schedule.policy == SchedulePolicy.ALLOW

    current: list[Task] = []
    for t in tasks:
        if t.desired_state >= TaskState.REMOVE:
            continue
        if t.job_iteration != run or run == 0:
            if _runnable(t) and (not keep_earlier or is_dead(t, nodes)):
                plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, SUPERSEDED))
            continue
        if _runnable(t) and is_dead(t, nodes):
            plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, "node left"))
            t = replace(t, desired_state=TaskState.SHUTDOWN)
        current.append(t)
    if run == 0:
        return plan

    if isinstance(service.spec.mode, ReplicatedJob):
        slots_done = _replicated(
            service, service.spec.mode, run, current, nodes, now, rng, history, plan
        )
    else:
        slots_done = _global(service, run, current, nodes, now, rng, history, plan)
    promote_delayed(current, now, plan, to=TaskState.COMPLETE)
    _record_outcome(service, status, slots_done, now, plan)
    return plan


@dataclass(frozen=True, slots=True)
class _Settled:
    """How the run's slots stand once this pass is written."""

    all_settled: bool  # every slot done or given up
    given_up: str  # why the first given-up slot was given up ("" if none)


def _judge(
    service: Service,
    run: int,
    key: SlotKey,
    slot_tasks: list[Task],
    nodes: Mapping[str, Node],
    now: float,
    history: RestartHistory,
) -> tuple[SlotState | None, bool, str]:
    """(state, restart, reason); state None means the slot is done."""
    if any(t.status.state == TaskState.COMPLETE for t in slot_tasks):
        return None, False, ""
    if any(_runnable(t) for t in slot_tasks):
        return SlotState.LIVE, False, ""
    verdict = judge_slot(service, f"{run}/{key}", slot_tasks, nodes, now, history)
    reason = verdict.reason
    last = newest(slot_tasks)
    if verdict.state == SlotState.FINISHED and last is not None and last.status.err:
        reason = f"{reason} (last task {last.id[:12]}: {last.status.err})"  # why it failed
    return verdict.state, verdict.restart, reason


def _create(
    service: Service,
    run: int,
    slot: int,
    node_id: str,
    restart: bool,
    now: float,
    rng: RandomBits,
    history: RestartHistory,
    plan: Plan,
) -> None:
    if restart and service.spec.task.restart_policy.delay > 0:
        held = replacement(service, slot=slot, node_id=node_id, now=now, rng=rng, restart=True)
        task = replace(held, job_iteration=run)  # desired READY until the delay is over
        plan.wake(now + service.spec.task.restart_policy.delay)
    else:
        task = replace(
            new_task(service, slot=slot, node_id=node_id, now=now, rng=rng),
            desired_state=TaskState.COMPLETE,
            job_iteration=run,
        )
    if restart:
        history.record(service.id, f"{run}/{node_id or slot}", service.spec.task, now)
    plan.add(CreateTask(task))


def _replicated(
    service: Service,
    mode: ReplicatedJob,
    run: int,
    current: list[Task],
    nodes: Mapping[str, Node],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
    plan: Plan,
) -> _Settled:
    total = max(0, mode.total_completions)
    limit = mode.max_concurrent if mode.max_concurrent > 0 else total
    slots: dict[int, list[Task]] = {}
    for t in current:
        slots.setdefault(t.slot, []).append(t)
    occupied = 0
    refill: list[tuple[int, bool]] = []
    given_up = ""
    unsettled = 0
    for slot in sorted(slots):
        state, restart, reason = _judge(service, run, slot, slots[slot], nodes, now, history)
        if state is None:
            continue
        if state == SlotState.FINISHED:
            given_up = given_up or f"slot {slot}: {reason}"
            continue
        unsettled += 1
        if state in (SlotState.LIVE, SlotState.WAIT):
            occupied += 1
        elif slot <= total:
            refill.append((slot, restart))
    fresh = [(s, False) for s in range(1, total + 1) if s not in slots]
    unsettled += len(fresh)
    for slot, restart in [*refill, *fresh][: max(0, limit - occupied)]:
        _create(service, run, slot, "", restart, now, rng, history, plan)
    return _Settled(unsettled == 0, given_up)


def _global(
    service: Service,
    run: int,
    current: list[Task],
    nodes: Mapping[str, Node],
    now: float,
    rng: RandomBits,
    history: RestartHistory,
    plan: Plan,
) -> _Settled:
    eligible = eligible_nodes(service, nodes)
    slots: dict[str, list[Task]] = {}
    for t in current:
        if _runnable(t) and t.node_id not in eligible:
            plan.add(SetDesiredState(t.id, t.service_id, TaskState.SHUTDOWN, "node not eligible"))
            continue
        if t.node_id in eligible:
            slots.setdefault(t.node_id, []).append(t)
    given_up = ""
    unsettled = 0
    for node_id in sorted(eligible, key=slot_order):
        node = eligible[node_id]
        if node_id in slots:
            state, restart, reason = _judge(
                service, run, node_id, slots[node_id], nodes, now, history
            )
        elif node.spec.availability == NodeAvailability.ACTIVE:
            state, restart, reason = SlotState.REFILL, False, ""
        else:
            continue  # paused: no new task there
        if state is None:
            continue
        if state == SlotState.FINISHED:
            given_up = given_up or f"node {node_id}: {reason}"
            continue
        unsettled += 1
        active = node.spec.availability == NodeAvailability.ACTIVE
        if state == SlotState.REFILL and active:
            _create(service, run, 0, node_id, restart, now, rng, history, plan)
    return _Settled(unsettled == 0, given_up)


def _record_outcome(
    service: Service, status: JobStatus, settled: _Settled, now: float, plan: Plan
) -> None:
    if not settled.all_settled:
        return
    state = JobState.FAILED if settled.given_up else JobState.COMPLETED
    if status.state == state and status.finished_at is not None:
        return
    message = (
        f"run {status.iteration} failed: {settled.given_up}"
        if settled.given_up
        else f"run {status.iteration} completed"
    )
    done = replace(status, state=state, finished_at=now, message=message)
    plan.add(SetServiceStatus(service.id, service.spec_version, job_status=done))
