"""Jobs (issue 10 item 6): completion, concurrency, restarts, runs, schedules; pure."""

from __future__ import annotations

from dataclasses import replace

from actors.orchestrator.cron import CronAction, judge_schedule
from actors.orchestrator.jobs import job_progress
from api.enums import JobState, NodeAvailability, RestartCondition, SchedulePolicy
from api.objects import Service, Task
from api.specs import GlobalJob, JobSchedule, ReplicatedJob, RestartPolicy
from api.task_state import TaskState
from tests.unit.orchestrator.helpers import World, make_node, make_service

NOON = 1_735_732_800.0  # 2025-01-01 12:00:00 UTC


def job_world(*nodes: str, **kwargs: object) -> World:
    w = World(now=NOON)
    w.add(*(make_node(n) for n in nodes or ("n1", "n2")))
    return w


def run(w: World) -> None:
    """The scheduler and the worker: place pending job tasks, start them."""
    usable = sorted(w.nodes)
    for i, t in enumerate(sorted(w.tasks.values(), key=lambda t: (t.slot, t.id))):
        if t.desired_state != TaskState.COMPLETE or t.status.state >= TaskState.RUNNING:
            continue
        w.tasks[t.id] = replace(t, node_id=t.node_id or usable[i % len(usable)])
        w.set_status(t.id, TaskState.RUNNING)


def live(w: World, sid: str) -> list[Task]:
    return sorted(
        (
            t
            for t in w.of(sid)
            if t.desired_state <= TaskState.COMPLETE and not t.status.state.is_terminal
        ),
        key=lambda t: (t.slot, t.node_id),
    )


def finish(w: World, tasks: list[Task], state: TaskState = TaskState.COMPLETE) -> None:
    for t in tasks:
        w.set_status(t.id, state)


def test_replicated_job_runs_its_completions_max_concurrent_at_a_time() -> None:
    w = job_world()
    job = make_service("batch", mode=ReplicatedJob(max_concurrent=2, total_completions=5))
    w.add(job)
    w.reconcile()
    first = live(w, job.id)
    assert [t.slot for t in first] == [1, 2]
    assert all(t.desired_state == TaskState.COMPLETE and t.job_iteration == 1 for t in first)
    assert w.services[job.id].job_status is not None
    run(w)
    w.reconcile()
    assert len(live(w, job.id)) == 2  # nothing more while two run
    finish(w, first)
    w.reconcile()
    assert [t.slot for t in live(w, job.id)] == [3, 4]
    assert job_progress(w.services[job.id], w.of(job.id)).completed == 2
    run(w)
    finish(w, live(w, job.id))
    w.reconcile()
    run(w)
    finish(w, live(w, job.id))
    w.reconcile()
    assert live(w, job.id) == []
    progress = job_progress(w.services[job.id], w.of(job.id))
    assert (progress.completed, progress.total, progress.state) == (5, 5, JobState.COMPLETED)
    # done: nothing is ever restarted, whatever the restart condition (any, here)
    assert not w.reconcile().effects


def started_job(w: World, mode: ReplicatedJob) -> Service:
    """A job that restarts a failed task once, at once, added and its first tasks run."""
    policy = RestartPolicy(condition=RestartCondition.ON_FAILURE, delay=0.0, max_attempts=1)
    job = make_service("batch", mode=mode, restart=policy)
    w.add(job)
    w.reconcile()
    run(w)
    return job


def test_a_failed_task_is_restarted_in_its_slot_and_a_slot_gives_up() -> None:
    w = job_world()
    job = started_job(w, ReplicatedJob(2, 2))
    one, two = live(w, job.id)
    finish(w, [one], TaskState.FAILED)
    finish(w, [two])
    w.reconcile()
    (again,) = live(w, job.id)
    assert again.slot == one.slot and again.id != one.id  # restarted in its slot
    run(w)
    finish(w, [again], TaskState.FAILED)
    w.reconcile()
    status = w.services[job.id].job_status
    assert live(w, job.id) == [] and status is not None
    assert status.state == JobState.FAILED
    assert "slot 1" in status.message and "max attempts" in status.message


def test_a_given_up_slot_says_why_its_last_task_failed() -> None:
    """``service create --mode replicated-job ... sh -c 'exit 3'`` ended with ``run 1
    failed: slot 1: 1 restarts: max attempts reached``: not a word of the exit code."""
    w = job_world()
    job = started_job(w, ReplicatedJob(1, 1))
    for _attempt in range(2):
        (task,) = live(w, job.id)
        w.set_status(task.id, TaskState.FAILED, err="task: non-zero exit (3)")
        w.reconcile()
        run(w)
    status = w.services[job.id].job_status
    assert status is not None and status.state == JobState.FAILED
    assert status.message == (
        "run 1 failed: slot 1: 1 restarts: max attempts reached "
        f"(last task {task.id[:12]}: task: non-zero exit (3))"
    )


def test_restart_delay_holds_the_new_task_then_raises_it_to_complete() -> None:
    w = job_world()
    job = make_service("batch", mode=ReplicatedJob(1, 1), restart=RestartPolicy(delay=5.0))
    w.add(job)
    w.reconcile()
    run(w)
    finish(w, live(w, job.id), TaskState.FAILED)
    plan = w.reconcile()
    (held,) = live(w, job.id)
    assert held.desired_state == TaskState.READY and plan.wake_at == NOON + 5.0
    w.now += 5.0
    w.reconcile()
    assert w.tasks[held.id].desired_state == TaskState.COMPLETE


def test_force_update_starts_a_new_run_and_supersedes_the_old_one() -> None:
    w = job_world()
    job = make_service("batch", mode=ReplicatedJob(1, 2))
    w.add(job)
    w.reconcile()
    run(w)
    old = live(w, job.id)
    s = w.services[job.id]
    task = replace(s.spec.task, force_update=1)
    w.services[job.id] = replace(s, spec=replace(s.spec, task=task), spec_version=2)
    w.reconcile()
    assert all(w.tasks[t.id].desired_state == TaskState.SHUTDOWN for t in old)
    status = w.services[job.id].job_status
    assert status is not None and status.iteration == 2
    assert [t.job_iteration for t in live(w, job.id)] == [2]


def test_global_job_runs_once_on_each_eligible_node_and_on_nodes_that_come() -> None:
    w = job_world("n1", "n2")
    w.add(make_node("n3", availability=NodeAvailability.PAUSE))
    job = make_service("sweep", mode=GlobalJob(), constraints=("node.labels.disk!=none",))
    w.add(job)
    w.reconcile()
    assert sorted(t.node_id for t in live(w, job.id)) == ["n1", "n2"]  # paused: none
    finish(w, live(w, job.id))
    w.reconcile()
    assert job_progress(w.services[job.id], w.of(job.id)).state == JobState.COMPLETED
    w.add(make_node("n4"))
    w.reconcile()
    assert [t.node_id for t in live(w, job.id)] == ["n4"]
    finish(w, live(w, job.id))
    w.reconcile()
    progress = job_progress(w.services[job.id], w.of(job.id))
    assert (progress.completed, progress.total) == (3, 3)


def scheduled(policy: SchedulePolicy = SchedulePolicy.SKIP) -> tuple[World, str]:
    w = job_world()
    job = make_service("nightly", mode=ReplicatedJob(1, 1))
    job = replace(job, spec=replace(job.spec, schedule=JobSchedule("0 * * * *", policy)))
    w.add(job)  # created at NOON: due at 13:00, 14:00...
    return w, job.id


def test_a_scheduled_job_runs_when_due_and_wakes_for_the_next_time() -> None:
    w, sid = scheduled()
    plan = w.reconcile()
    assert live(w, sid) == [] and plan.wake_at == NOON + 3600
    w.now = NOON + 3600
    plan = w.reconcile()
    assert len(live(w, sid)) == 1
    status = w.services[sid].job_status
    assert status is not None and status.iteration == 1 and status.last_scheduled == NOON + 3600
    assert plan.wake_at == NOON + 7200


def test_missed_runs_are_coalesced_into_one() -> None:
    """A new leader finds three due times passed: one run, for the latest."""
    w, sid = scheduled()
    w.reconcile()
    w.now = NOON + 3 * 3600 + 60
    w.reconcile()
    status = w.services[sid].job_status
    assert status is not None and status.iteration == 1
    assert (
        status.last_scheduled == NOON + 3 * 3600 and "2 earlier due times missed" in status.message
    )
    assert len(live(w, sid)) == 1
    w.reconcile()
    assert len(live(w, sid)) == 1  # not once more for the others


def test_policy_skip_replace_allow_when_the_previous_run_still_goes() -> None:
    for policy, runs, old_desired in (
        (SchedulePolicy.SKIP, 1, TaskState.COMPLETE),
        (SchedulePolicy.REPLACE, 2, TaskState.SHUTDOWN),
        (SchedulePolicy.ALLOW, 2, TaskState.COMPLETE),
    ):
        w, sid = scheduled(policy)
        w.now = NOON + 3600
        w.reconcile()
        run(w)
        (first,) = live(w, sid)
        w.now = NOON + 7200  # due again; the first run still goes
        w.reconcile()
        status = w.services[sid].job_status
        assert status is not None and status.iteration == runs, policy
        assert w.tasks[first.id].desired_state == old_desired, policy
        if policy == SchedulePolicy.SKIP:
            assert "skipped: run 1 still going" in status.message
            assert status.last_scheduled == NOON + 7200


def test_a_skip_says_how_many_due_times_it_coalesced() -> None:
    w, sid = scheduled(SchedulePolicy.SKIP)
    w.now = NOON + 3600
    w.reconcile()
    run(w)
    w.now = NOON + 4 * 3600  # three due times later; the first run still goes
    w.reconcile()
    status = w.services[sid].job_status
    assert status is not None and status.iteration == 1
    assert "skipped (2 earlier due times missed): run 1 still going" in status.message
    assert status.last_scheduled == NOON + 4 * 3600


def test_force_update_runs_a_scheduled_job_now() -> None:
    w, sid = scheduled()
    w.reconcile()
    s = w.services[sid]
    task = replace(s.spec.task, force_update=1)
    w.services[sid] = replace(s, spec=replace(s.spec, task=task), spec_version=2)
    w.reconcile()
    status = w.services[sid].job_status
    assert status is not None and status.iteration == 1 and "--force" in status.message


def test_cron_verdicts() -> None:
    wait = judge_schedule(
        "*/10 * * * *",
        SchedulePolicy.SKIP,
        last_scheduled=None,
        created_at=NOON,
        now=NOON + 1,
        run_going=False,
    )
    assert wait.action == CronAction.WAIT and wait.next_at == NOON + 600
    due = judge_schedule(
        "*/10 * * * *",
        SchedulePolicy.ALLOW,
        last_scheduled=NOON,
        created_at=0.0,
        now=NOON + 600,
        run_going=True,
    )
    assert (due.action, due.due_at, due.missed, due.next_at) == (
        CronAction.RUN,
        NOON + 600,
        0,
        NOON + 1200,
    )
    skip = judge_schedule(
        "*/10 * * * *",
        SchedulePolicy.SKIP,
        last_scheduled=NOON,
        created_at=0.0,
        now=NOON + 1900,
        run_going=True,
    )
    assert (skip.action, skip.due_at, skip.missed) == (CronAction.SKIP, NOON + 1800, 2)
