"""Durable file writes: the one way this project writes a file that must survive a crash.

Rules (what "durable" means here):
- every byte is written (short writes are retried), the file is fsynced, then renamed over
  the target, then the directory is fsynced, so after a crash the path holds either the old
  content or the whole new content, and a rename that returned is on disk;
- the temporary file lives beside the target (same file system, so the rename is atomic)
  and is created with the final mode, so the content is never readable wider than meant;
- state-dir files are 0600 and directories 0700 (DESIGN.md §7): those are the defaults.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

__all__ = ["DIR_MODE", "FILE_MODE", "fsync_dir", "pwrite_all", "write_all", "write_durable"]

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (os.write may write fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, offset: int) -> None:
    """Write every byte of ``data`` to ``fd`` at ``offset`` (os.pwrite may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so the entries created or renamed in it are on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(
    path: str | os.PathLike[str],
    data: bytes | bytearray | memoryview,
    *,
    mode: int = FILE_MODE,
    sync_dir: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically and durably (see the module's rules).

    ``sync_dir=False`` only for a caller that fsyncs the directory itself after several
    renames in it (one directory fsync for a batch)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # an old temp file left by a crash keeps its mode otherwise
        write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, target)
    if sync_dir:
        fsync_dir(target.parent)
