"""A task's secret and config files: where they go (pure), and written for real on a tmpfs
(/dev/shm) with their modes and owners, refused off a tmpfs, removed when released."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath

import pytest

from actors.worker.dependencies import DependencyStore, Needed
from actors.worker.executors.base import EngineError, InvalidTaskError
from actors.worker.executors.docker_config import container_config
from actors.worker.file_layout import filesystem_type, task_file_layout
from actors.worker.task_files import TaskFiles
from api.ids import new_id
from api.objects import Config, NodeDescription, Secret, Task
from api.specs import ConfigReference, ConfigSpec, SecretReference, SecretSpec
from tests.unit.worker.helpers import make_task

SECRET = Secret(id="s" * 25, spec=SecretSpec(name="db_pass", data=b"hunter2\x00\xff"))
CONFIG = Config(id="c" * 25, spec=ConfigSpec(name="site", data=b"listen 80;\n"))


def with_files(
    task: Task, secrets: tuple[SecretReference, ...] = (), configs: tuple[ConfigReference, ...] = ()
) -> Task:
    c = replace(task.spec.container, secrets=secrets, configs=configs)
    return replace(task, spec=replace(task.spec, container=c))


def task_using_both(task_id: str = "t1") -> Task:
    return with_files(
        make_task(task_id, image="busybox"),
        (SecretReference(SECRET.id, "db_pass", "db/password", uid=70, gid=71, mode=0o400),),
        (ConfigReference(CONFIG.id, "site", "/etc/site.conf"),),
    )


def test_the_layout() -> None:
    layout = task_file_layout(task_using_both(), PurePosixPath("/dev/shm/r/n1"))
    assert layout.mounts() == (
        ("/dev/shm/r/n1/t1/secrets/db/password", "/run/secrets/db/password"),
        ("/dev/shm/r/n1/t1/configs/etc/site.conf", "/etc/site.conf"),
    )
    assert layout.environment() == {
        "SWARM_SECRETS_DIR": "/dev/shm/r/n1/t1/secrets",
        "SWARM_CONFIGS_DIR": "/dev/shm/r/n1/t1/configs",
    }
    assert task_file_layout(make_task("t2"), PurePosixPath("/r")).environment() == {}
    bad = with_files(make_task("t3"), (SecretReference("x", "x", "../escape"),))
    with pytest.raises(ValueError, match="leaves its directory"):
        task_file_layout(bad, PurePosixPath("/r"))


def test_docker_mounts_are_read_only_binds() -> None:
    config = container_config(make_task("t1", image="busybox"), (("/h/a", "/run/secrets/a"),))
    assert config.host_config_kwargs()["mounts"] == [
        {"Type": "bind", "Source": "/h/a", "Target": "/run/secrets/a", "ReadOnly": True}
    ]
    assert "mounts" not in container_config(make_task("t2", image="i")).host_config_kwargs()


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw
30 25 0:27 / /dev/shm rw,relatime - ext4 /dev/sdb rw
31 27 0:28 / /mnt/with\\040space rw - tmpfs tmpfs rw
32 27 0:29 / /dev/shmx rw - ext4 x rw
"""


def test_filesystem_of_a_path_from_mountinfo() -> None:
    assert filesystem_type(MOUNTINFO, "/var/lib") == "ext4"
    assert filesystem_type(MOUNTINFO, "/proc/1") == "proc"
    assert filesystem_type(MOUNTINFO, "/dev/shm/x") == "ext4"  # the last of stacked mounts
    assert filesystem_type(MOUNTINFO, "/mnt/with space/a") == "tmpfs"
    assert (
        filesystem_type(MOUNTINFO.replace("0:27 / /dev/shm", "0:27 / /other"), "/dev/shm/x")
        == "tmpfs"
    )
    assert filesystem_type(MOUNTINFO, "/dev/shmx/y") == "ext4"
    assert filesystem_type("", "/x") is None


def test_the_store_waits_for_what_a_task_needs() -> None:
    store = DependencyStore()
    store.apply(True, [SECRET], (), [CONFIG], ())
    secrets, configs, missing = store.wait_for(Needed((SECRET.id,), (CONFIG.id,)), 0)
    assert secrets == {SECRET.id: SECRET} and configs == {CONFIG.id: CONFIG} and not missing.secrets
    store.apply(False, (), [SECRET.id], (), ())
    assert store.wait_for(Needed((SECRET.id,)), 0)[2] == Needed((SECRET.id,))
    arrives = threading.Thread(target=store.apply, args=(False, [SECRET]))
    arrives.start()
    secrets, _, missing = store.wait_for(Needed((SECRET.id,)), 30.0)  # returns on arrival
    arrives.join()
    assert secrets == {SECRET.id: SECRET} and missing == Needed()
    store.apply(True)
    assert store.ids() == ([], [])


@pytest.fixture
def shm_root() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir():
        pytest.fail("no /dev/shm tmpfs on this machine")
    root = Path("/dev/shm") / f"swarmnode-test-{new_id()}" / "node1"
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


def files(root: Path, state_dir: Path, store: DependencyStore | None = None) -> TaskFiles:
    if store is None:
        store = DependencyStore()
        store.apply(True, [SECRET], (), [CONFIG], ())
    return TaskFiles(root, store, state_dir=state_dir, wait=0.0)


def test_files_are_written_with_their_modes_and_removed(shm_root: Path, tmp_path: Path) -> None:
    task_files = files(shm_root, tmp_path)
    task = task_using_both()
    layout = task_files.prepare(task)
    secret = Path(layout.files[0].host_path)
    config = Path(layout.files[1].host_path)
    assert secret.read_bytes() == SECRET.spec.data and config.read_bytes() == CONFIG.spec.data
    info = secret.stat()
    assert stat.S_IMODE(info.st_mode) == 0o400
    if os.geteuid() == 0:
        assert (info.st_uid, info.st_gid) == (70, 71)
    assert stat.S_IMODE(config.stat().st_mode) == 0o444
    for directory in (shm_root, shm_root.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o711
    assert stat.S_IMODE((shm_root / "t1").stat().st_mode) == 0o700
    task_files.prepare(task)  # again (a retried prepare): written anew
    assert secret.read_bytes() == SECRET.spec.data
    assert task_files.task_ids() == ["t1"]
    task_files.release("t1")
    assert not (shm_root / "t1").exists() and task_files.task_ids() == []
    # nothing of the secret anywhere under the state dir
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_missing_object_fails_the_task_naming_it(shm_root: Path, tmp_path: Path) -> None:
    named = r"secret db_pass \(s+\), config site \(c+\) not received from the manager"
    with pytest.raises(InvalidTaskError, match=named):
        files(shm_root, tmp_path, DependencyStore()).prepare(task_using_both())


def test_a_root_off_tmpfs_or_in_the_state_dir_is_refused(shm_root: Path, tmp_path: Path) -> None:
    on_disk = tmp_path / "files" / "node1"
    with pytest.raises(EngineError, match="not a tmpfs"):
        files(on_disk, tmp_path / "state").prepare(task_using_both())
    with pytest.raises(EngineError, match="inside the state dir"):
        files(shm_root, shm_root.parent).prepare(task_using_both())
    # a task without files needs no root at all
    assert files(on_disk, tmp_path / "state").prepare(make_task("t9")).files == ()


def test_templated_files_are_expanded_for_the_task_from_its_own_objects(
    shm_root: Path, tmp_path: Path
) -> None:
    """``--template-driver golang``: the node writes the data expanded with the task's
    values, its own secrets and configs (by file target) and its env."""
    template = Config(
        id="g" * 25,
        spec=ConfigSpec(
            name="app",
            templating="golang",
            data=(
                b'{{.Service.Name}} on {{.Node.Hostname}}: mode={{env "MODE"}} '
                b'pw={{secret "db/password"}} site={{config "/etc/site.conf"}}\xff'
            ),
        ),
    )
    store = DependencyStore()
    store.apply(True, [SECRET], (), [CONFIG, template], ())
    task = with_files(
        make_task("t1", image="busybox"),
        (SecretReference(SECRET.id, "db_pass", "db/password"),),
        (
            ConfigReference(CONFIG.id, "site", "/etc/site.conf"),
            ConfigReference(template.id, "app", "/app.conf"),
        ),
    )
    task = replace(
        task,
        service_name="web",
        spec=replace(task.spec, container=replace(task.spec.container, env=("MODE=blue",))),
    )
    described = TaskFiles(
        shm_root, store, state_dir=tmp_path, wait=0.0, description=NodeDescription(hostname="h1")
    )
    layout = described.prepare(task)
    written = Path(layout.files[-1].host_path).read_bytes()
    assert written == (
        b"web on h1: mode=blue pw=hunter2\x00\xff site=listen 80;\n\xff"
    )  # bytes that are not UTF-8 kept as they were, in the template and in the secret
    assert Path(layout.files[1].host_path).read_bytes() == CONFIG.spec.data  # not a template

    # a target the task was not given is not reachable, and nothing is written
    described.release("t1")
    stranger = Config(
        id="h" * 25,
        spec=ConfigSpec(name="peek", templating="golang", data=b'{{secret "other"}}'),
    )
    store.apply(False, (), (), [stranger])
    peeking = with_files(
        make_task("t2", image="busybox"),
        (SecretReference(SECRET.id, "db_pass", ""),),
        (ConfigReference(stranger.id, "peek", "/peek"),),
    )
    with pytest.raises(InvalidTaskError, match="templated config peek: secret target 'other'"):
        described.prepare(peeking)
    assert described.task_ids() == []
