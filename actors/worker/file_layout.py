"""Where a task's secret and config files go, on the node and in its container: decisions
only, no I/O (actors/worker/task_files.py writes them).

Layout, under the node's files root (on a tmpfs, never in the state dir)::

    ROOT/<task id>/secrets/<target>      a secret; the container sees /run/secrets/<target>
    ROOT/<task id>/configs/<target>      a config; the container sees /<target>

A process task gets the two directories as ``$SWARM_SECRETS_DIR`` and
``$SWARM_CONFIGS_DIR`` (each only when it has such files); a container gets each file
bind-mounted read-only at its path. `filesystem_type` reads ``/proc/self/mountinfo`` text
to tell which file system holds a path, so the root can be checked to be a tmpfs.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Final

from api.objects import Task
from api.secret_refs import SECRETS_DIR, config_target, secret_target

__all__ = [
    "CONFIGS_ENV",
    "MEMORY_FILESYSTEMS",
    "SECRETS_ENV",
    "PlannedFile",
    "TaskFileLayout",
    "filesystem_type",
    "task_file_layout",
]

SECRETS_ENV: Final = "SWARM_SECRETS_DIR"
CONFIGS_ENV: Final = "SWARM_CONFIGS_DIR"
MEMORY_FILESYSTEMS: Final = frozenset({"tmpfs", "ramfs"})


@dataclass(frozen=True, slots=True)
class PlannedFile:
    kind: str  # "secret" | "config"
    object_id: str
    name: str  # the secret's or config's name (for messages)
    host_path: PurePosixPath
    container_path: str
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True, slots=True)
class TaskFileLayout:
    task_dir: PurePosixPath
    secrets_dir: PurePosixPath
    configs_dir: PurePosixPath
    files: tuple[PlannedFile, ...]

    @property
    def has_secrets(self) -> bool:
        return any(f.kind == "secret" for f in self.files)

    @property
    def has_configs(self) -> bool:
        return any(f.kind == "config" for f in self.files)

    def environment(self) -> dict[str, str]:
        """``$SWARM_SECRETS_DIR`` / ``$SWARM_CONFIGS_DIR`` for a process task."""
        env = {}
        if self.has_secrets:
            env[SECRETS_ENV] = str(self.secrets_dir)
        if self.has_configs:
            env[CONFIGS_ENV] = str(self.configs_dir)
        return env

    def mounts(self) -> tuple[tuple[str, str], ...]:
        """(host path, container path) of each file, for read-only bind mounts."""
        return tuple((str(f.host_path), f.container_path) for f in self.files)


def task_file_layout(task: Task, root: PurePosixPath) -> TaskFileLayout:
    """The files of ``task`` under ``root`` (module layout). ValueError for a task id or
    target that would leave its directory (validation refuses such specs already)."""
    if not task.id or "/" in task.id or task.id in (".", ".."):
        raise ValueError(f"not a task id: {task.id!r}")
    task_dir = root / task.id
    secrets_dir, configs_dir = task_dir / "secrets", task_dir / "configs"
    files = []
    c = task.spec.container
    for s in c.secrets:
        target = secret_target(s)
        files.append(
            PlannedFile(
                "secret",
                s.secret_id,
                s.secret_name,
                _below(secrets_dir, target),
                posixpath.join(SECRETS_DIR, target),
                s.uid,
                s.gid,
                s.mode,
            )
        )
    for cf in c.configs:
        target = config_target(cf)
        files.append(
            PlannedFile(
                "config",
                cf.config_id,
                cf.config_name,
                _below(configs_dir, target.lstrip("/")),
                posixpath.normpath(target),
                cf.uid,
                cf.gid,
                cf.mode,
            )
        )
    return TaskFileLayout(task_dir, secrets_dir, configs_dir, tuple(files))


def _below(directory: PurePosixPath, relative: str) -> PurePosixPath:
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"target {relative!r} leaves its directory")
    return directory.joinpath(*parts)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        digits = field[i + 1 : i + 4]
        if field[i] == "\\" and len(digits) == 3 and all(d in "01234567" for d in digits):
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_type(mountinfo: str, path: str) -> str | None:
    """The type of the file system that holds ``path`` (absolute, symlinks resolved), from
    ``/proc/self/mountinfo`` text: the last-mounted of the longest mount points above it."""
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        point = _unescape(fields[4])
        above = path == point or path.startswith(point.rstrip("/") + "/")
        if above and (best is None or len(point) >= best[0]):
            best = (len(point), tail[0])
    return best[1] if best is not None else None
