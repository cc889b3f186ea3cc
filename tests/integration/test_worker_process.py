"""The worker with the process executor: the same flows as with Docker, without Docker."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.executors import make_executor
from actors.worker.executors.health import TIMED_OUT, HealthPolicy
from actors.worker.executors.process import ProcessExecutor, process_start_ticks
from actors.worker.executors.process_health import run_probe
from actors.worker.executors.process_logs import read_text
from actors.worker.executors.process_sandbox import ProcessSandbox, prepare_sandbox
from actors.worker.worker import Worker
from api.specs import HealthConfig
from api.task_state import TaskState
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task, state_is

S = TaskState


@pytest.fixture(autouse=True)
def kill_leftovers(tmp_path: Path) -> Iterator[None]:
    """Whatever a failed test left running in its state dir is killed (by recorded pid)."""
    yield
    for path in (tmp_path / "process").glob("*.json"):
        record = json.loads(path.read_text())
        pid = int(record.get("pid") or 0)
        if pid and process_start_ticks(pid) == record.get("start_ticks"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def work_root(tmp_path: Path) -> Path:
    return tmp_path.with_name(tmp_path.name + "-work")


def sandbox(tmp_path: Path, user: str | None = None) -> ProcessSandbox:
    """Tasks as ``user`` (None: this test's), in a work root of the test's own (outside
    its state dir, which is ``tmp_path`` itself)."""
    return prepare_sandbox(user, state_dir=tmp_path, node_id="n1", work_root=work_root(tmp_path))


def start(tmp_path: Path, user: str | None = None) -> Any:
    return Worker.start(
        executor=make_executor(
            "process", state_dir=tmp_path, node_id="n1", sandbox=sandbox(tmp_path, user)
        ),
        state_dir=tmp_path,
        node_id="n1",
        reporter=Recorder(),
        flush_interval=0.05,
    )


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Any]:
    ref = start(tmp_path)
    yield ref
    if ref.is_alive():
        ids = ref.proxy().task_ids().get()
        ref.proxy().apply_assignments(True, [], []).get()
        wait_for(lambda: not ref.proxy().task_ids().get(), what=f"{ids} removed")
        ref.stop()


def alive(pid: int) -> bool:
    return process_start_ticks(pid) is not None


def test_sleep_runs_and_env_is_applied(worker: Any, tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    task = make_task(
        "p1",
        image="busybox",
        command=("sh", "-c"),
        args=(f'echo "$COLOR" > {out}; exec sleep 300',),
        env=("COLOR=blue",),
    )
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, "p1", S.RUNNING))
    pid = status.container_status.pid
    assert pid > 0 and alive(pid)
    assert os.getpgid(pid) == pid  # its own process group
    wait_for(lambda: out.exists() and out.read_text() == "blue\n", what="env written")


@pytest.mark.parametrize(
    ("script", "state", "code"), [("exit 0", S.COMPLETE, 0), ("exit 3", S.FAILED, 3)]
)
def test_exit_codes(worker: Any, script: str, state: TaskState, code: int) -> None:
    task = make_task("p2", command=("sh", "-c", script))
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, "p2", S.COMPLETE, S.FAILED))
    assert status.state is state and status.container_status.exit_code == code


def worker_threads() -> int:
    """This process's threads but the one every timer shares, which starts with the first
    timer of the process (maybe during the test)."""
    return sum(1 for t in threading.enumerate() if t.name != "timers")


def test_running_tasks_cost_one_thread_each_and_one_reaper(worker: Any) -> None:
    worker.proxy().task_ids().get()  # its on_start done: its own threads run
    idle = worker_threads()
    tasks = [make_task(f"many{i}", command=("sleep", "300"), slot=i + 1) for i in range(8)]
    proxy = worker.proxy()
    proxy.apply_assignments(True, tasks, []).get()
    for task in tasks:
        wait_for(lambda t=task: state_is(proxy, t.id, S.RUNNING), what="running")
    # each task's runner actor and the executor's reaper (a wait per task polled /proc on
    # a thread of its own)
    wait_for(
        lambda: worker_threads() <= idle + len(tasks) + 1,
        what="threads: one per running task, one reaper",
        timeout=60,
        describe=lambda: [t.name for t in threading.enumerate()],
    )
    assert any(t.name == "process-reaper" for t in threading.enumerate())


def test_bad_command_is_rejected(worker: Any) -> None:
    proxy = worker.proxy()
    proxy.apply_assignments(True, [make_task("p3", command=("/nonexistent",))], []).get()
    status = wait_for(lambda: state_is(proxy, "p3", S.REJECTED))
    assert "/nonexistent" in status.err


def test_shutdown_kills_the_whole_group_after_the_grace_period(worker: Any, tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = f"trap '' TERM; sleep 300 & echo $! > {pidfile}; wait"
    task = make_task("p4", command=("sh", "-c", script), grace=0.5)
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, "p4", S.RUNNING))
    grandchild = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip()))
    leader = status.container_status.pid
    proxy.apply_assignments(False, [dataclasses.replace(task, desired_state=S.SHUTDOWN)], []).get()
    done = wait_for(lambda: state_is(proxy, "p4", S.SHUTDOWN))
    assert done.container_status.exit_code == 128 + signal.SIGKILL
    wait_for(lambda: not alive(leader) and not alive(grandchild), what="group gone")


def test_restarted_worker_readopts_the_process(tmp_path: Path) -> None:
    task = make_task("p5", command=("sleep", "300"))
    first = start(tmp_path)
    try:
        first.proxy().apply_assignments(True, [task], []).get()
        status = wait_for(lambda: state_is(first.proxy(), "p5", S.RUNNING))
        first.proxy().flush().get()
    finally:
        first.stop()
    pid = status.container_status.pid
    ticks = process_start_ticks(pid)
    assert ticks is not None
    orphan = ProcessExecutor(tmp_path / "process", sandbox=sandbox(tmp_path)).controller(
        make_task("orphan", command=("sleep", "300"))
    )
    orphan.prepare()
    orphan.start()
    orphan_pid = orphan.inspect().pid

    second = start(tmp_path)
    try:
        again = wait_for(lambda: state_is(second.proxy(), "p5", S.RUNNING))
        assert again.container_status.pid == pid and process_start_ticks(pid) == ticks
        wait_for(lambda: not alive(orphan_pid), what="orphan stopped")
        os.killpg(pid, signal.SIGTERM)  # not our child any more: polled through /proc
        ended = wait_for(lambda: state_is(second.proxy(), "p5", S.FAILED))
        assert ended.err == "task: non-zero exit (143)"
        second.proxy().apply_assignments(True, [], []).get()
        wait_for(lambda: not second.proxy().task_ids().get(), what="removed")
    finally:
        second.stop()


def test_a_task_runs_as_the_sandbox_user_in_its_own_directory(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")  # test_process_isolation fails under CI
    nobody = pwd.getpwnam("nobody")
    task = make_task("p6", command=("sh", "-c", "id -u; pwd; echo done; exec sleep 300"))
    ref = start(tmp_path, user="nobody")
    proxy = ref.proxy()
    try:
        proxy.apply_assignments(True, [task], []).get()
        wait_for(lambda: state_is(proxy, "p6", S.RUNNING))
        log = tmp_path / "process" / "p6.log"
        wait_for(lambda: "done" in read_text(log), what="output")
        task_dir = work_root(tmp_path) / "p6"
        assert read_text(log).split() == [str(nobody.pw_uid), str(task_dir), "done"]
        info = task_dir.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (nobody.pw_uid, 0o700)
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        proxy.apply_assignments(True, [], []).get()
        wait_for(lambda: not proxy.task_ids().get(), what="removed")
        assert not task_dir.exists() and not log.exists()
    finally:
        ref.stop()


def test_a_working_dir_inside_the_state_dir_is_rejected(worker: Any, tmp_path: Path) -> None:
    task = make_task("p7", command=("sleep", "300"))
    inside = dataclasses.replace(task.spec.container, dir=str(tmp_path / "process"))
    task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, container=inside))
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, "p7", S.REJECTED))
    assert "is inside the node's state dir" in status.err


def test_health_cmd_gates_running_and_an_unhealthy_task_fails_with_its_output(
    worker: Any, tmp_path: Path
) -> None:
    """Docker's semantics on the process executor: STARTING until the check passes, then
    RUNNING (failed checks in the start period do not count); checks that fail `retries`
    times in a row after it stop the task, FAILED with the
    check's output (before, --health-cmd was ignored here)."""
    check = HealthConfig(
        test=("CMD-SHELL", "cat ready"), interval=0.2, timeout=2.0, retries=2, start_period=30.0
    )
    task = make_task(
        "h1", command=("sh", "-c", "sleep 1; echo up > ready; exec sleep 300"), healthcheck=check
    )
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    wait_for(lambda: state_is(proxy, "h1", S.STARTING), what="starting while unhealthy")
    running = wait_for(lambda: state_is(proxy, "h1", S.RUNNING), what="running once healthy")
    assert running.started_at > 0
    (work_root(tmp_path) / "h1" / "ready").unlink()
    failed = wait_for(lambda: state_is(proxy, "h1", S.FAILED), what="failed once unhealthy")
    assert failed.err.startswith("task: unhealthy container (last health check: cat:"), failed.err
    assert "ready" in failed.err
    pid = failed.container_status.pid
    wait_for(lambda: not alive(pid), what="the unhealthy task stopped")


def test_a_check_past_its_timeout_is_killed(tmp_path: Path) -> None:
    policy = HealthPolicy(("sh", "-c", "echo started; sleep 30"), timeout=0.3)
    result = run_probe(policy, env={"PATH": "/usr/bin:/bin"}, cwd=str(tmp_path), user=None)
    assert result.exit_code == TIMED_OUT and "exceeded timeout (0.3s)" in result.output
    done = run_probe(
        HealthPolicy(("sh", "-c", "echo fine; exit 3")),
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(tmp_path),
        user=None,
    )
    assert (done.exit_code, done.output) == (3, "fine\n")


def test_fields_a_process_cannot_honour_reject_the_task(worker: Any) -> None:
    task = make_task("r1", command=("sleep", "300"), labels={"team": "a"})
    spec = dataclasses.replace(task.spec.container, user="daemon", hostname="web")
    task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, container=spec))
    proxy = worker.proxy()
    proxy.apply_assignments(True, [task], []).get()
    status = wait_for(lambda: state_is(proxy, "r1", S.REJECTED))
    assert status.err.startswith("the process executor cannot honour user 'daemon'"), status.err
    assert "hostname 'web'" in status.err and "container labels" in status.err
