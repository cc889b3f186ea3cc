"""Convergence progress: the judge's verdicts, and the poll loop against a store where a
thread moves task states as the scheduler and the worker would."""

from __future__ import annotations

import io
import threading

import pytest

from actors.control import call
from api.task_state import TaskState
from cli.errors import CliError
from cli.job_progress import JobJudge
from cli.progress import ProgressJudge, ProgressRenderer, wait_converged
from tests.unit.control.helpers import Cluster


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ps(c: Cluster, ref: str) -> dict[str, object]:
    return dict(call(c.services.ps, {"service": ref}))


def test_converges_when_every_slot_runs_the_current_spec() -> None:
    c = Cluster()
    n = c.add_node("n1")
    c.create(name="web", replicas=2)
    judge = ProgressJudge(FakeClock())
    t1 = c.add_task("web", 1, n)
    verdict = judge.judge(ps(c, "web"))
    assert not verdict.done and not verdict.failed and verdict.desired == 2
    c.set_task(t1, TaskState.RUNNING)
    t2 = c.add_task("web", 2, n)
    c.set_task(t2, TaskState.STARTING)
    verdict = judge.judge(ps(c, "web"))
    assert (verdict.running, verdict.done) == (1, False)
    assert verdict.lines[0] == "overall progress: 1 out of 2 tasks"
    assert "2/2: starting" in verdict.lines
    c.set_task(t2, TaskState.RUNNING)
    assert judge.judge(ps(c, "web")).done


def test_a_scale_down_that_kept_slots_1_and_3_has_converged() -> None:
    # the orchestrator removes slots from the node with the most tasks first, so a
    # scale from 3 to 2 can keep slots 1 and 3 (CI once waited 60 s for a slot 2)
    c = Cluster()
    n1, n2 = c.add_node("n1"), c.add_node("n2")
    c.create(name="web", replicas=3)
    tasks = [c.add_task("web", 1, n1), c.add_task("web", 2, n1), c.add_task("web", 3, n2)]
    for t in tasks:
        c.set_task(t, TaskState.RUNNING)
    call(c.services.scale, {"service": "web", "replicas": 2})
    judge = ProgressJudge(FakeClock())
    verdict = judge.judge(ps(c, "web"))
    assert not verdict.done  # three slots are still live: the orchestrator has not acted
    assert verdict.lines == ("overall progress: 2 out of 2 tasks", "1/2: running", "2/2: running")
    c.set_desired(tasks[1], TaskState.REMOVE)
    verdict = judge.judge(ps(c, "web"))
    assert verdict.done and verdict.running == 2
    assert verdict.lines == ("overall progress: 2 out of 2 tasks", "1/2: running", "2/2: running")
    c.set_task(tasks[2], TaskState.FAILED, err="boom")
    c.set_desired(tasks[2], TaskState.SHUTDOWN)
    verdict = judge.judge(ps(c, "web"))
    assert not verdict.done
    assert verdict.lines == ("overall progress: 1 out of 2 tasks", "1/2: running", "2/2: new")


def test_update_waits_for_tasks_at_the_new_spec() -> None:
    c = Cluster()
    n = c.add_node("n1")
    c.create(name="web", replicas=1)
    old = c.add_task("web", 1, n)
    c.set_task(old, TaskState.RUNNING)
    call(c.services.update, {"service": "web", "changes": {"image": "busybox:2"}})
    judge = ProgressJudge(FakeClock())
    assert not judge.judge(ps(c, "web")).done
    c.set_desired(old, TaskState.SHUTDOWN)
    new = c.add_task("web", 1, n)
    c.set_task(new, TaskState.RUNNING)
    assert judge.judge(ps(c, "web")).done


def test_repeated_failures_give_the_task_error() -> None:
    c = Cluster()
    n = c.add_node("n1")
    c.create(name="web", replicas=1)
    judge = ProgressJudge(FakeClock(), max_failures=3)
    assert not judge.judge(ps(c, "web")).failed  # the first look sets the baseline
    for i in range(3):
        c.clock.now += 1
        t = c.add_task("web", 1, n)
        c.set_task(t, TaskState.FAILED, err=f"exec: no such file ({i})")
        c.set_desired(t, TaskState.SHUTDOWN)
        verdict = judge.judge(ps(c, "web"))
        assert bool(verdict.failed) == (i == 2)
    assert "exec: no such file (2)" in verdict.failed and "3 tasks failed" in verdict.failed


def test_failures_from_before_the_watch_do_not_count() -> None:
    c = Cluster()
    n = c.add_node("n1")
    c.create(name="web", replicas=1, restart_condition="none")
    old = c.add_task("web", 1, n)
    c.set_task(old, TaskState.REJECTED, err="image not found")
    judge = ProgressJudge(FakeClock())
    assert not judge.judge(ps(c, "web")).failed
    t = c.add_task("web", 1, n)
    c.set_task(t, TaskState.REJECTED, err="image still not found")
    assert "image still not found" in judge.judge(ps(c, "web")).failed  # limit 1 for "none"


def test_pending_with_a_reason_fails_after_the_grace() -> None:
    c = Cluster()
    c.create(name="web", replicas=1)
    clock = FakeClock()
    judge = ProgressJudge(clock, pending_grace=10.0)
    t = c.add_task("web", 1)
    c.set_task(
        t, TaskState.PENDING, message="no suitable node (constraint not satisfied on 1 node)"
    )
    assert not judge.judge(ps(c, "web")).failed
    clock.now = 9.0
    assert not judge.judge(ps(c, "web")).failed
    clock.now = 10.0
    verdict = judge.judge(ps(c, "web"))
    assert "is pending: no suitable node (constraint not satisfied on 1 node)" in verdict.failed


def test_removed_service_fails_and_global_mode_counts_nodes() -> None:
    c = Cluster()
    n1, n2 = c.add_node("n1"), c.add_node("n2")
    sid = c.create(name="g", mode="global")
    judge = ProgressJudge(FakeClock())
    for n in (n1, n2):
        c.set_task(c.add_task("g", 0, n), TaskState.RUNNING)
    verdict = judge.judge(ps(c, "g"))
    assert verdict.done and verdict.desired == 2
    call(c.services.rm, {"services": ["g"]})
    assert "was removed" in judge.judge(ps(c, sid)).failed  # the CLI follows it by id


def test_a_global_service_without_tasks_has_not_converged() -> None:
    c = Cluster()
    n1 = c.add_node("n1")
    c.create(name="g", mode="global")
    clock = FakeClock()
    judge = ProgressJudge(clock, pending_grace=15)
    verdict = judge.judge(ps(c, "g"))  # the orchestrator has not made its tasks yet
    assert not verdict.done and not verdict.failed
    clock.now = 10.0
    c.set_task(c.add_task("g", 0, n1), TaskState.RUNNING)
    assert judge.judge(ps(c, "g")).done


def test_a_global_service_no_node_takes_fails_after_the_grace() -> None:
    c = Cluster()
    c.create(name="g", mode="global")
    clock = FakeClock()
    judge = ProgressJudge(clock, pending_grace=15)
    assert not judge.judge(ps(c, "g")).failed
    clock.now = 15.0
    assert "global service g has no task: no node is eligible" in judge.judge(ps(c, "g")).failed


def test_renderer_redraws_on_a_tty_and_prints_changes_otherwise() -> None:
    plain = io.StringIO()
    r = ProgressRenderer(plain, tty=False)
    r.draw(["overall progress: 0 out of 1 tasks", "1/1: pending"])
    r.draw(["overall progress: 0 out of 1 tasks", "1/1: running"])
    assert plain.getvalue().splitlines() == [
        "overall progress: 0 out of 1 tasks",
        "1/1: pending",
        "1/1: running",
    ]
    tty = io.StringIO()
    r = ProgressRenderer(tty, tty=True)
    r.draw(["a", "b"])
    r.draw(["a", "c"])
    assert "\x1b[2A" in tty.getvalue()


def test_wait_converged_while_a_thread_moves_tasks() -> None:
    c = Cluster()
    n = c.add_node("n1")
    sid = c.create(name="web", replicas=3)
    started = threading.Event()

    def worker() -> None:
        started.wait(10)
        for slot in (1, 2, 3):
            t = c.add_task("web", slot, n)
            for state in (TaskState.ASSIGNED, TaskState.STARTING, TaskState.RUNNING):
                c.set_task(t, state)

    def fetch() -> dict[str, object]:
        started.set()
        return ps(c, sid)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    out = io.StringIO()
    verdict = wait_converged(fetch, out=out, timeout=30.0, interval=0.01, tty=False)
    thread.join(10)
    assert verdict.done and verdict.running == 3
    assert out.getvalue().splitlines()[-1] == "verify: Service converged"


def test_wait_converged_gives_up_at_the_deadline() -> None:
    c = Cluster()
    c.create(name="web", replicas=1)
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.now += seconds

    with pytest.raises(CliError, match="did not converge within 5s: 0 of 1 tasks running"):
        wait_converged(
            lambda: ps(c, "web"),
            out=io.StringIO(),
            timeout=5.0,
            clock=clock,
            sleep=sleep,
            judge=ProgressJudge(clock),
        )


def _job_reply(**job: object) -> dict[str, object]:
    return {"service": {"name": "batch", "job": job}, "tasks": []}


def test_a_job_ends_with_job_complete_as_dockers_cli_does() -> None:
    """A job's wait ends with docker/cli's "job complete" (it said "verify: Service
    converged", a service's words); a scheduled job's with its own line only."""
    replies = iter(
        [
            _job_reply(iteration=0, total=2, completed=0, state="running"),
            _job_reply(iteration=1, total=2, completed=1, state="running"),
            _job_reply(iteration=1, total=2, completed=2, state="completed"),
        ]
    )
    out = io.StringIO()
    verdict = wait_converged(
        lambda: next(replies), out=out, timeout=30.0, interval=0.0, judge=JobJudge(0), tty=False
    )
    assert verdict.done
    lines = out.getvalue().splitlines()
    assert lines[-2:] == ["run 1: 2 out of 2 completed", "job complete"]
    assert "verify: Service converged" not in lines

    scheduled = _job_reply(iteration=0, total=1, completed=0, schedule="*/5 * * * *")
    out = io.StringIO()
    wait_converged(lambda: scheduled, out=out, timeout=30.0, judge=JobJudge(0), tty=False)
    assert out.getvalue().splitlines() == ["scheduled (*/5 * * * *): runs start when they are due"]
