"""Where and as whom process-executor tasks run (the rules are in `process_policy`).

Layout: ``WORK_ROOT/<task id>/`` is a task's working directory and ``HOME``, mode 0700,
owned by the task user, removed with the task. ``WORK_ROOT`` is ``<base>/<node id>``
with ``<base>`` = ``$TMPDIR/swarmnode-<uid>`` (``/tmp/swarmnode-0`` for root): outside the
state dir (refused if it is not), one per node so nodes on one machine never share task
directories. Both levels are owned by the node's user and never group- or world-writable
(an existing one that is not, e.g. planted by another user in ``/tmp``, is refused); they
are 0711 when tasks run as another user (who must reach its own directory but may not
list the others), else 0700.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from actors.worker.executors.process_policy import is_within

__all__ = [
    "ProcessSandbox",
    "ProcessSandboxError",
    "TaskUser",
    "default_work_root",
    "ensure_owned_dir",
    "prepare_sandbox",
    "resolve_task_user",
]


class ProcessSandboxError(Exception):
    """The task user or the work root cannot be used; the message says why."""


@dataclass(frozen=True)
class TaskUser:
    """A user tasks switch to (the shim drops to it before running the command)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def resolve_task_user(name: str) -> TaskUser:
    """The user named ``name`` (or a numeric uid) on this machine, never root."""
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, OverflowError):
        raise ProcessSandboxError(
            f"--process-user {name!r}: no such user on this machine (create it, or name "
            "another unprivileged user)"
        ) from None
    if entry.pw_uid == 0:
        raise ProcessSandboxError(
            f"--process-user {name!r} is root: tasks would have the node's rights (its keys "
            "and Raft log); name an unprivileged user"
        )
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return TaskUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def default_work_root(node_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"swarmnode-{os.geteuid()}" / node_id


@dataclass(frozen=True)
class ProcessSandbox:
    """Built by `prepare_sandbox`, which checked ``work_root``; ``user`` None: tasks run
    as the node's own user."""

    work_root: Path
    state_dir: Path  # the node's: a task's working directory is never inside it
    user: TaskUser | None = None

    def user_names(self) -> tuple[str, ...]:
        """The name and uid of the user tasks run as (a spec's ``user`` must be one)."""
        if self.user is not None:
            return (self.user.name, str(self.user.uid))
        uid = os.geteuid()
        try:
            return (pwd.getpwuid(uid).pw_name, str(uid))
        except KeyError:
            return (str(uid),)

    def task_dir(self, task_id: str) -> Path:
        if not task_id or "/" in task_id or task_id in (".", ".."):
            raise ProcessSandboxError(f"not a task id: {task_id!r}")
        return self.work_root / task_id

    def create_task_dir(self, task_id: str) -> Path:
        """The task's directory, created (or kept) 0700 and owned by the task user."""
        path = self.task_dir(task_id)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise ProcessSandboxError(f"{path} exists and is not a directory")
        if self.user is not None and (info.st_uid, info.st_gid) != (self.user.uid, self.user.gid):
            os.chown(path, self.user.uid, self.user.gid, follow_symlinks=False)
        if stat.S_IMODE(info.st_mode) != 0o700:
            path.chmod(0o700)
        return path

    def remove_task_dir(self, task_id: str) -> None:
        """Remove the task's directory and all in it (symlinks are not followed)."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.task_dir(task_id))

    def task_ids(self) -> list[str]:
        """The tasks that have a directory here."""
        try:
            return sorted(entry.name for entry in os.scandir(self.work_root) if entry.is_dir())
        except FileNotFoundError:
            return []

    def check_workdir(self, workdir: str) -> str | None:
        """Why a spec's ``dir`` cannot be a task's working directory, or None."""
        if is_within(Path(os.path.realpath(workdir)), Path(os.path.realpath(self.state_dir))):
            return f"working directory {workdir} is inside the node's state dir"
        if not os.path.isdir(workdir):
            return f"working directory {workdir} does not exist"
        return None


def prepare_sandbox(
    user: str | None, *, state_dir: Path, node_id: str, work_root: Path | None = None
) -> ProcessSandbox:
    """Resolve ``user`` (None: the node's own) and create or check the work root
    (default `default_work_root`). Raises `ProcessSandboxError`."""
    task_user = resolve_task_user(user) if user is not None else None
    root = Path(os.path.abspath(work_root or default_work_root(node_id)))
    if is_within(Path(os.path.realpath(root)), Path(os.path.realpath(state_dir))):
        raise ProcessSandboxError(
            f"the task work root {root} is inside the state dir {state_dir}: tasks must "
            "not reach the node's files (set TMPDIR elsewhere)"
        )
    mode = 0o711 if task_user is not None else 0o700
    # the default's base (swarmnode-<uid>) is ours too; a given root's parent is not
    for level in (root,) if work_root is not None else (root.parent, root):
        ensure_owned_dir(level, mode)
    return ProcessSandbox(root, Path(os.path.abspath(state_dir)), task_user)


def ensure_owned_dir(path: Path, mode: int) -> None:
    """``path`` a directory of this process's user with ``mode`` (created if missing);
    `ProcessSandboxError` for one that is not a directory or not ours."""
    try:
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=mode, parents=True)
        info = path.lstat()
    except OSError as exc:
        raise ProcessSandboxError(f"cannot use task work dir {path}: {exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise ProcessSandboxError(f"task work dir {path} is not a directory (a symlink?)")
    if info.st_uid != os.geteuid():
        raise ProcessSandboxError(
            f"task work dir {path} belongs to uid {info.st_uid}, not to this node's user "
            f"(uid {os.geteuid()}): remove it"
        )
    if stat.S_IMODE(info.st_mode) != mode:
        path.chmod(mode)
