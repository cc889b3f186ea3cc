"""A task's secret and config files, written on a tmpfs when the task is prepared and
removed when it no longer runs (the layout is in `file_layout`).

Rules (DESIGN.md §7: a secret lives only in the Raft log, and in memory or on a tmpfs of
the nodes whose tasks use it):
- The root (`default_files_root`: ``/dev/shm/swarmnode-<uid>/<node id>``) must be on a
  memory file system (tmpfs), outside the state dir, owned by the node's user and never
  group- or world-writable; a task with files is refused otherwise, with the reason.
- The data comes from the node's `DependencyStore` (what the manager sent for the node's
  tasks); an object that has not arrived within ``wait`` seconds fails the task, naming it.
- Each file gets the reference's mode and, on a node running as root, its uid and gid. A
  node that is not root cannot give files away: the files stay its own (a uid or gid of 0,
  the default, means the node's user), and any other uid or gid is refused.
- A task's directory is 0700 (0711 when ``owner``, a process task's user, must reach its
  ``secrets``/``configs`` directories, which are then that user's, 0700). Files are
  written anew on every prepare (unlink, then create exclusively, no symlink followed).
- `release` removes a task's directory; `task_ids` lists the tasks that have one (the
  worker's orphan sweep removes those of tasks it no longer holds).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Final

from actors.log import get_logger
from actors.worker.dependencies import DependencyStore, Needed
from actors.worker.executors.base import EngineError, InvalidTaskError
from actors.worker.executors.process_policy import is_within
from actors.worker.executors.process_sandbox import ProcessSandboxError, ensure_owned_dir
from actors.worker.file_layout import (
    MEMORY_FILESYSTEMS,
    PlannedFile,
    TaskFileLayout,
    filesystem_type,
    task_file_layout,
)
from api.objects import Config, NodeDescription, Secret, Task
from api.payload_templates import PayloadSources, expand_payload
from api.secret_validation import MAX_DATA_BYTES
from api.templates import task_context

__all__ = ["DEPENDENCY_WAIT", "TaskFiles", "default_files_root"]

DEPENDENCY_WAIT: Final = 10.0  # seconds a prepare waits for the manager to send an object
MOUNTINFO: Final = Path("/proc/self/mountinfo")
ROOT_MODE: Final = 0o711  # a process task's user reaches its own directory only


def default_files_root(node_id: str) -> Path:
    return Path("/dev/shm") / f"swarmnode-{os.geteuid()}" / node_id


class TaskFiles:
    def __init__(
        self,
        root: Path,
        store: DependencyStore,
        *,
        state_dir: Path,
        wait: float = DEPENDENCY_WAIT,
        mountinfo: Path = MOUNTINFO,
        description: NodeDescription | None = None,
    ) -> None:
        """``description``: this node's, for templated files' ``.Node`` values."""
        self.root = Path(os.path.abspath(root))
        self.store = store
        self._state_dir = Path(os.path.abspath(state_dir))
        self._wait = wait
        self._mountinfo = mountinfo
        self._description = description
        self._root_checked = False
        self._log = get_logger("worker")

    def layout(self, task: Task) -> TaskFileLayout:
        """Where ``task``'s files go (no I/O); InvalidTaskError for a bad target."""
        try:
            return task_file_layout(task, PurePosixPath(self.root))
        except ValueError as exc:
            raise InvalidTaskError(str(exc)) from None

    # -- the root -------------------------------------------------------------------------
    def _check_root(self) -> None:
        if self._root_checked:
            return
        real_root = Path(os.path.realpath(self.root))
        if is_within(real_root, Path(os.path.realpath(self._state_dir))):
            raise EngineError(
                f"secret files root {self.root} is inside the state dir {self._state_dir}: "
                "secrets never go there"
            )
        try:
            for level in (self.root.parent, self.root):
                ensure_owned_dir(level, ROOT_MODE)
        except ProcessSandboxError as exc:
            raise EngineError(f"secret files root: {exc}") from exc
        try:
            kind = filesystem_type(self._mountinfo.read_text(), os.path.realpath(self.root))
        except OSError as exc:
            raise EngineError(f"cannot tell the file system of {self.root}: {exc}") from exc
        if kind not in MEMORY_FILESYSTEMS:
            raise EngineError(
                f"secret files root {self.root} is on {kind or 'an unknown file system'}, not "
                "a tmpfs: secrets are kept only in memory (mount a tmpfs there)"
            )
        self._root_checked = True

    # -- a task's files -------------------------------------------------------------------
    def prepare(self, task: Task, owner: tuple[int, int] | None = None) -> TaskFileLayout:
        """Write ``task``'s files (module rules); the layout written. ``owner``: the
        (uid, gid) of a process task's user."""
        layout = self.layout(task)
        if not layout.files:
            return layout
        self._check_root()
        needed = Needed(
            tuple(f.object_id for f in layout.files if f.kind == "secret"),
            tuple(f.object_id for f in layout.files if f.kind == "config"),
        )
        secrets, configs, missing = self.store.wait_for(needed, self._wait)
        if missing.secrets or missing.configs:
            names = [
                f"{f.kind} {f.name} ({f.object_id})"
                for f in layout.files
                if f.object_id in missing.secrets + missing.configs
            ]
            raise InvalidTaskError(
                f"{', '.join(names)} not received from the manager within {self._wait:g}s"
            )
        contents = self._contents(task, layout, secrets, configs)
        try:
            self._make_dirs(layout, owner)
            for f, data in zip(layout.files, contents, strict=True):
                self._write(f, data, owner)
        except OSError as exc:
            raise EngineError(f"cannot write the task's {exc.filename}: {exc.strerror}") from exc
        self._log.info(
            "worker.task.files.written",
            task_id=task.id,
            files={"secrets": len(needed.secrets), "configs": len(needed.configs)},
        )
        return layout

    def _contents(
        self,
        task: Task,
        layout: TaskFileLayout,
        secrets: Mapping[str, Secret],
        configs: Mapping[str, Config],
    ) -> list[bytes]:
        """Each planned file's bytes, templated ones expanded (before anything is written:
        a template that fails leaves no file behind)."""
        objects = [
            secrets[f.object_id] if f.kind == "secret" else configs[f.object_id]
            for f in layout.files
        ]
        if not any(o.spec.templating for o in objects):
            return [o.spec.data for o in objects]
        container = task.spec.container
        sources = PayloadSources(
            secrets={
                r.target or r.secret_name: secrets[r.secret_id].spec.data
                for r in container.secrets
                if r.secret_id in secrets
            },
            configs={
                r.target or r.config_name: configs[r.config_id].spec.data
                for r in container.configs
                if r.config_id in configs
            },
            env=container.env,
        )
        ctx = task_context(task, self._description)
        out = []
        for f, obj in zip(layout.files, objects, strict=True):
            if not obj.spec.templating:
                out.append(obj.spec.data)
                continue
            try:
                out.append(expand_payload(obj.spec.data, ctx, sources, MAX_DATA_BYTES))
            except ValueError as exc:
                raise InvalidTaskError(f"templated {f.kind} {f.name}: {exc}") from None
        return out

    def _make_dirs(self, layout: TaskFileLayout, owner: tuple[int, int] | None) -> None:
        _private_dir(Path(layout.task_dir), ROOT_MODE if owner else 0o700, None)
        for directory, wanted in (
            (layout.secrets_dir, layout.has_secrets),
            (layout.configs_dir, layout.has_configs),
        ):
            if wanted:
                _private_dir(Path(directory), 0o700, owner)
        for f in layout.files:  # a nested target's directories
            top = layout.secrets_dir if f.kind == "secret" else layout.configs_dir
            current = Path(top)
            for part in f.host_path.relative_to(top).parts[:-1]:
                current = current / part
                _private_dir(current, 0o700, owner)

    def _write(self, f: PlannedFile, data: bytes, owner: tuple[int, int] | None) -> None:
        path = Path(f.host_path)
        uid, gid = _file_owner(f)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if uid is not None and gid is not None:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, f.mode)
        finally:
            os.close(fd)

    def release(self, task_id: str) -> None:
        """Remove the task's files (no symlink is followed); a missing one is fine."""
        if not task_id or "/" in task_id or task_id in (".", ".."):
            return
        path = self.root / task_id
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
            self._log.info("worker.task.files.removed", task_id=task_id)

    def task_ids(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []


def _file_owner(f: PlannedFile) -> tuple[int | None, int | None]:
    """The (uid, gid) to give the file; (None, None) keeps the node's own (module rules)."""
    if os.geteuid() == 0:
        return f.uid, f.gid
    mine = (os.geteuid(), os.getegid())
    for value, own, what in ((f.uid, mine[0], "uid"), (f.gid, mine[1], "gid")):
        if value not in (0, own):
            raise InvalidTaskError(
                f"{f.kind} {f.name}: cannot give its file to {what} {value}: this node does "
                f"not run as root (its files belong to uid {mine[0]}, gid {mine[1]})"
            )
    return None, None


def _private_dir(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidTaskError(f"{path} exists and is not a directory")
    if owner is not None and (info.st_uid, info.st_gid) != owner:
        os.chown(path, *owner, follow_symlinks=False)
    if stat.S_IMODE(info.st_mode) != mode:
        path.chmod(mode)
