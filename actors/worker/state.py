"""The worker's assignments and last statuses on disk, so a worker restarted after
``kill -9`` knows its tasks and re-adopts their containers.

Rules:
- One file, ``STATE_DIR/worker/tasks.msgpack``: ``{"v": 1, "tasks": [task...],
  "statuses": {task id: status}}``, objects in the ``api.codec_objects`` encoding.
- Writes are durable (`actors.durable.write_durable`: every byte, fsync, rename, fsync of
  the directory), the file 0600 and its directory 0700. A reader sees the old or the new
  file, never a torn one.
- On a manager the file is encrypted under its data key (``cipher``, from
  `actors.node.startup.keys.NodeKeys.worker_state_cipher`): its tasks name services and hold their
  env, which must not be readable at rest. A worker's file is plain (workers have no key
  store). A plain file found where a cipher is given is read once and rewritten encrypted.
- A file that cannot be decoded is moved aside (``.corrupt``) and the worker starts empty:
  the next full assignment set from a manager repopulates it.
- A rotated data key: `reencrypt` rewrites the file under the cipher's current key. It and
  `save` encrypt and write holding an exclusive flock on the directory, so a save that
  encrypted under the old key cannot land after the rewrite.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgpack

from actors.ca.encryption import DecryptionFailed
from actors.ca.node_identity import ensure_private_dir
from actors.durable import DIR_MODE, write_durable
from actors.log import get_logger
from api.codec_objects import ObjectDecodeError, decode, encode
from api.objects import Task, TaskStatus

__all__ = ["WorkerState", "WorkerStateFile"]

FORMAT_VERSION = 1


def _no_tasks() -> dict[str, Task]:
    return {}


def _no_statuses() -> dict[str, TaskStatus]:
    return {}


@dataclass
class WorkerState:
    tasks: dict[str, Task] = field(default_factory=_no_tasks)
    statuses: dict[str, TaskStatus] = field(default_factory=_no_statuses)


class StateCipher(Protocol):
    """``actors.raft_node.wal.Cipher``: decrypt raises on a ciphertext that does not
    authenticate."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


WORKER_DIR = "worker"  # the worker's part of STATE_DIR


class WorkerStateFile:
    def __init__(self, state_dir: Path, cipher: StateCipher | None = None) -> None:
        self.dir = Path(state_dir)
        self.path = self.dir / "tasks.msgpack"
        self._cipher = cipher
        self._log = get_logger("worker")

    def _plain(self, raw: bytes) -> bytes:
        if self._cipher is None:
            return raw
        try:
            return self._cipher.decrypt(raw)
        except DecryptionFailed:  # a plain file from before encryption (or damage)
            return raw

    def load(self) -> WorkerState:
        if self.dir.exists():
            ensure_private_dir(self.dir)  # a directory an older version made 0755
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return WorkerState()
        try:
            data = msgpack.unpackb(self._plain(raw), raw=False)
            if not isinstance(data, dict) or data.get("v") != FORMAT_VERSION:
                raise ValueError("unknown format")
            tasks = [decode(Task, item, strict=False) for item in data.get("tasks", [])]
            statuses = {
                str(key): decode(TaskStatus, value, strict=False)
                for key, value in dict(data.get("statuses", {})).items()
            }
        except (ValueError, TypeError, ObjectDecodeError, msgpack.UnpackException) as exc:
            aside = self.path.with_suffix(".corrupt")
            os.replace(self.path, aside)
            self._log.error(
                "worker.state.corrupt", path=str(self.path), moved_to=str(aside), error=str(exc)
            )
            return WorkerState()
        return WorkerState({task.id: task for task in tasks}, statuses)

    def save(self, tasks: Mapping[str, Task], statuses: Mapping[str, TaskStatus]) -> None:
        data: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "tasks": [encode(task) for task in tasks.values()],
            "statuses": {key: encode(status) for key, status in statuses.items()},
        }
        self.dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        packed = msgpack.packb(data, use_bin_type=True)
        with self._exclusive():
            self._write(packed)

    def reencrypt(self) -> bool:
        """Rewrite the file under the cipher's current key; False when there is nothing to
        rewrite (no cipher, no file)."""
        if self._cipher is None or not self.dir.is_dir():
            return False
        with self._exclusive():
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return False
            self._write(self._plain(raw))
        return True

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _write(self, packed: bytes) -> None:
        if self._cipher is not None:
            packed = self._cipher.encrypt(packed)
        write_durable(self.path, packed)
