"""A real, small file system for the tests of a full disk: a tmpfs of a few MiB mounted
for one test (``mount -t tmpfs``, which needs root, as CI has), and a filler file that
takes every byte left on it until the test frees them.

    with SmallDisk.mount(tmp_path / "disk", mib=8) as disk:
        disk.fill()   # ENOSPC from now on, for every writer on it
        disk.free()   # room again

Without the right to mount, a test skips, and under ``CI=true`` fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI

__all__ = ["SmallDisk"]


@dataclass
class SmallDisk:
    path: Path

    @classmethod
    @contextlib.contextmanager
    def mount(cls, path: Path, *, mib: int) -> Iterator[SmallDisk]:
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            why = f"cannot mount a tmpfs at {path}: {result.stderr.strip() or result.returncode}"
            if IN_CI:
                pytest.fail(f"CI=true but {why} (the suite runs as root in CI)")
            pytest.skip(why)
        try:
            yield cls(path)
        finally:
            # lazy: a process the test left behind may still hold a file open there
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)

    @property
    def filler(self) -> Path:
        return self.path / "filler"

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self) -> None:
        """Take every byte left (ENOSPC for every writer on the disk from now on)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for piece in (bytes(1 << 16), bytes(4096)):  # then the last pages
                with contextlib.suppress(OSError):  # ENOSPC: full
                    while True:
                        os.write(fd, piece)
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)
