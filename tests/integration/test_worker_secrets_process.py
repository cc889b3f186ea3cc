"""The process executor gives a task its secrets and configs as files on a tmpfs, in
directories named by $SWARM_SECRETS_DIR and $SWARM_CONFIGS_DIR: real processes, real files
under /dev/shm, removed once the task ended; never under the state dir."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.worker.dependencies import DependencyStore
from actors.worker.executors import make_executor
from actors.worker.task_files import TaskFiles
from actors.worker.worker import Worker
from api.ids import new_id
from api.objects import Config, Secret, Task
from api.specs import ConfigReference, ConfigSpec, SecretReference, SecretSpec
from api.task_state import TaskState
from tests.integration.test_worker_process import kill_leftovers, sandbox  # noqa: F401
from tests.support.waiting import wait_for
from tests.unit.worker.helpers import Recorder, make_task, state_is

S = TaskState
SECRET = Secret(
    id=new_id(), spec=SecretSpec(name="db_pass", data=b"s3cr3t-" + os.urandom(8).hex().encode())
)
CONFIG = Config(id=new_id(), spec=ConfigSpec(name="site", data=b"listen 80;\n"))
SCRIPT = (
    'cat "$SWARM_SECRETS_DIR/db/password" > {out}.secret; '
    'cat "$SWARM_CONFIGS_DIR/etc/site.conf" > {out}.config; '
    'stat -c %a "$SWARM_SECRETS_DIR/db/password" > {out}.mode; exec sleep 300'
)


@pytest.fixture
def files_root() -> Iterator[Path]:
    root = Path("/dev/shm") / f"swarmnode-test-{new_id()}" / "n1"
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)
    shutil.rmtree(output_dir(root), ignore_errors=True)


def output_dir(root: Path) -> Path:
    """Where the task writes what it read: a directory any task user may write to."""
    return root.parent.with_name(root.parent.name + "-out")


def start(tmp_path: Path, root: Path, user: str | None = None) -> Any:
    store = DependencyStore()
    store.apply(True, [SECRET], (), [CONFIG], ())
    files = TaskFiles(root, store, state_dir=tmp_path, wait=0.0)
    executor = make_executor(
        "process", state_dir=tmp_path, node_id="n1", sandbox=sandbox(tmp_path, user), files=files
    )
    return Worker.start(
        executor=executor,
        state_dir=tmp_path,
        node_id="n1",
        reporter=Recorder(),
        flush_interval=0.05,
    )


def using_files(task: Task, mode: int = 0o400) -> Task:
    c = dataclasses.replace(
        task.spec.container,
        secrets=(SecretReference(SECRET.id, "db_pass", "db/password", mode=mode),),
        configs=(ConfigReference(CONFIG.id, "site", "/etc/site.conf"),),
    )
    return dataclasses.replace(task, spec=dataclasses.replace(task.spec, container=c))


def run_and_check(tmp_path: Path, root: Path, user: str | None, mode: int) -> None:
    out = output_dir(root) / "out"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.parent.chmod(0o777)
    task = using_files(make_task("p1", command=("sh", "-c", SCRIPT.format(out=out))), mode)
    ref = start(tmp_path, root, user)
    proxy = ref.proxy()
    try:
        proxy.apply_assignments(True, [task], []).get()
        wait_for(lambda: state_is(proxy, "p1", S.RUNNING))
        mode_file = Path(f"{out}.mode")
        wait_for(lambda: mode_file.exists() and mode_file.read_text().strip(), what="the task read")
        assert Path(f"{out}.secret").read_bytes() == SECRET.spec.data
        assert Path(f"{out}.config").read_bytes() == CONFIG.spec.data
        assert mode_file.read_text().strip() == f"{mode:o}"
        secrets_dir = root / "p1" / "secrets"
        info = secrets_dir.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700
        if user is not None:
            assert info.st_uid == pwd.getpwnam(user).pw_uid
        for path in tmp_path.rglob("*"):  # the state dir never holds the secret
            if path.is_file():
                assert SECRET.spec.data not in path.read_bytes(), path
        proxy.apply_assignments(
            False, [dataclasses.replace(task, desired_state=S.SHUTDOWN)], []
        ).get()
        wait_for(lambda: state_is(proxy, "p1", S.SHUTDOWN))
        wait_for(lambda: not (root / "p1").exists(), what="the task's files removed")
        proxy.apply_assignments(True, [], []).get()
        wait_for(lambda: not proxy.task_ids().get(), what="removed")
    finally:
        ref.stop()


def test_a_process_task_reads_its_secret_and_config(tmp_path: Path, files_root: Path) -> None:
    run_and_check(tmp_path, files_root, None, 0o400)


def test_as_the_sandbox_user(tmp_path: Path, files_root: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching users needs root")  # test_process_isolation fails under CI
    run_and_check(tmp_path, files_root, "nobody", 0o444)


def test_a_task_whose_secret_never_came_is_rejected(tmp_path: Path, files_root: Path) -> None:
    missing = dataclasses.replace(SECRET, id=new_id())
    task = using_files(make_task("p2", command=("sleep", "300")))
    c = dataclasses.replace(
        task.spec.container, secrets=(SecretReference(missing.id, "gone", "gone"),)
    )
    task = dataclasses.replace(task, spec=dataclasses.replace(task.spec, container=c))
    ref = start(tmp_path, files_root)
    proxy = ref.proxy()
    try:
        proxy.apply_assignments(True, [task], []).get()
        status = wait_for(lambda: state_is(proxy, "p2", S.REJECTED))
        assert f"secret gone ({missing.id}) not received from the manager" in status.err
        proxy.apply_assignments(True, [], []).get()
        wait_for(lambda: not proxy.task_ids().get(), what="removed")
    finally:
        ref.stop()
