"""A process-executor task is not the node (issue 8, item 5), on a real ``swarm-node``.

A manager runs as root (as the tests do here) from inside its own state dir, with a marker
variable in its environment, and a worker joins it. A global ``probe`` service prints its
uid, working directory and environment and tries to read the manager's key files and Raft
WAL, then sleeps; a global ``brief`` service writes a file in its directory and exits. The
tests read the manager's probe output from its log and walk both nodes' state dirs after
the tasks ran (and ``brief`` was removed).
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from actors.worker.executors.process_logs import read_text
from actors.worker.executors.process_policy import MINIMAL_PATH
from tests.conftest import IN_CI
from tests.support.swarm import Swarm, SwarmNode, poll, run_node_once

MARKER = "SWARMNODE_TEST_NODE_SECRET"
NOBODY = "nobody"


def need_root() -> None:
    if os.geteuid() != 0:
        reason = "switching tasks to an unprivileged user needs the node to run as root"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@dataclass
class Probe:
    node: SwarmNode
    worker: SwarmNode
    lines: list[str]  # the probe task's output
    private: list[Path]  # the node's key files and WAL the probe tried to read
    task_dir: Path  # the probe's working directory
    task_dir_info: os.stat_result  # ... while it ran
    brief_dir: Path  # the brief task's directory (removed with its service)


def _output(node: SwarmNode, service: str, last_line: str) -> list[str]:
    """The output of ``service``'s task on ``node`` (read from its log as root)."""
    [task] = poll(
        lambda: [t for t in node.tasks(service) if t["node_id"] == node.node_id],
        f"{service}'s task on {node.name}",
    )
    log = node.state_dir / "process" / f"{task['id']}.log"
    text = poll(lambda: last_line in read_text(log) and read_text(log), f"{service}'s output")
    return str(text).splitlines()


def _value(lines: list[str], prefix: str) -> str:
    [found] = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    return found


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    need_root()
    tmp = tmp_path_factory.mktemp("isolation")
    state = tmp / "m1"
    state.mkdir(mode=0o700)
    with pytest.MonkeyPatch.context() as env, Swarm(tmp) as swarm:
        env.setenv(MARKER, "the-node-s-own")
        node = swarm.start_node("m1", executor="process", cwd=state)  # run from its state dir
        node.wait_ready()
        (tmp / "w1").mkdir(mode=0o700)
        token = node.join_token("worker")
        worker = swarm.start_node("w1", extra=node.join_args(token), cwd=tmp / "w1")
        swarm.wait_cluster(1, 1)
        [wal, *_] = sorted((state / "raft").glob("wal-*"))
        private = [state / "keys" / "curve.key", state / "certificates" / "node.key", wal]
        reads = "; ".join(f'cat "{p}" 2>&1 >/dev/null | sed "s/^/cat=/"' for p in private)
        script = f'echo "uid=$(id -u)"; echo "cwd=$(pwd)"; env | sed "s/^/env=/"; {reads}; '
        node.ctl_json(
            "service", "create", "--name", "probe", "--detach", "--env", "COLOR=blue",
            "--mode", "global", "busybox", "sh", "-c", f"{script}echo probe-done; exec sleep 300",
        )  # fmt: skip
        lines = _output(node, "probe", "probe-done")
        task_dir = Path(_value(lines, "cwd="))
        info = task_dir.stat()
        node.ctl_json(
            "service", "create", "--name", "brief", "--detach", "--restart-condition", "none",
            "--mode", "global", "busybox",
            "sh", "-c", 'echo data > out.txt; echo "cwd=$(pwd)"; echo brief-done',
        )  # fmt: skip
        brief_dir = Path(_value(_output(node, "brief", "brief-done"), "cwd="))
        poll(
            lambda: [t["state"] for t in node.tasks("brief")] == ["complete"] * 2,
            "brief complete on both nodes",
        )
        node.ctl_json("service", "rm", "brief")
        yield Probe(node, worker, lines, private, task_dir, info, brief_dir)


def test_a_task_has_none_of_the_nodes_environment(probe: Probe) -> None:
    env = dict(line[4:].partition("=")[::2] for line in probe.lines if line.startswith("env="))
    assert MARKER not in env
    assert env["PATH"] == MINIMAL_PATH and env["COLOR"] == "blue"
    assert env["HOME"] == str(probe.task_dir)
    assert set(env) <= {"PATH", "HOME", "COLOR", "PWD", "SHLVL", "OLDPWD"}, env


def test_a_task_cannot_read_the_nodes_keys_or_raft_log(probe: Probe) -> None:
    assert int(_value(probe.lines, "uid=")) == pwd.getpwnam(NOBODY).pw_uid
    errors = [line for line in probe.lines if line.startswith("cat=")]
    assert len(errors) == len(probe.private), probe.lines
    for path, error in zip(probe.private, errors, strict=True):
        assert str(path) in error and "Permission denied" in error


def test_a_task_works_in_its_own_directory_outside_the_state_dir(probe: Probe) -> None:
    state = probe.node.state_dir.resolve()
    assert state not in probe.task_dir.resolve().parents and probe.task_dir != state
    info = probe.task_dir_info
    assert info.st_uid == pwd.getpwnam(NOBODY).pw_uid
    assert stat.S_IMODE(info.st_mode) == 0o700
    poll(lambda: not probe.brief_dir.exists(), "brief's directory removed with its task")


@pytest.mark.parametrize("role", ["manager", "worker"])
def test_every_file_under_the_state_dir_is_0600_and_every_directory_0700(
    probe: Probe, role: str
) -> None:
    state = (probe.node if role == "manager" else probe.worker).state_dir
    seen = {p.relative_to(state).as_posix() for p in state.rglob("*")}
    assert {"worker/tasks.msgpack", "lock", "node_id"} <= seen
    assert any(name.startswith("process/") and name.endswith(".log") for name in seen)
    wrong = []
    for path in [state, *state.rglob("*")]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            # The live node's durable writes rename their temp files away; a file
            # that vanished between the listing and its lstat has nothing to check.
            continue
        mode = stat.S_IMODE(info.st_mode)
        want = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if mode != want or stat.S_ISLNK(info.st_mode):
            wrong.append(f"{path.relative_to(state)}: {oct(mode)}")
    assert not wrong, wrong


def test_process_user_is_refused_when_it_cannot_apply(tmp_path: Path) -> None:
    need_root()
    missing = run_node_once(tmp_path / "a", "--process-user", "no-such-user-swarmnode")
    assert missing.returncode == 1
    assert "--process-user 'no-such-user-swarmnode': no such user" in missing.stderr
    root = run_node_once(tmp_path / "b", "--process-user", "root")
    assert root.returncode == 1 and "is root" in root.stderr
    docker = run_node_once(tmp_path / "c", "--executor", "docker", "--process-user", NOBODY)
    assert docker.returncode == 2
    assert "--process-user applies to the process executor only" in docker.stderr
