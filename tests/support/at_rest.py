"""Tests of data at rest: every ciphertext under a state dir, and crashes injected between
the durable steps of a procedure.

`ciphertexts` cuts each file of a directory into what a data key would have encrypted: the
records of a WAL segment, the payload of a snapshot, any other file whole. `decryptable_by`
says which of them a data key opens (as the WAL, snapshot or worker state cipher does).

`CrashAt(n)` makes the n-th file-system step (fsync, fdatasync, rename, replace, unlink) of
the code under test raise `SimulatedCrash` instead of running: everything done before it
stays on disk (real files, real fsync), nothing after it happens. Counting the steps of a
whole procedure with `CrashAt(None)` and crashing at each in turn crashes it between every
pair of its durable steps.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.ca.encryption import DecryptionFailed
from actors.ca.keystore import DATA_KEY, KeyStore
from actors.node.startup.keys import NodeKeys
from actors.raft_node.snapshots import list_snapshots
from actors.raft_node.wal import FRAME, list_segments, scan_segment

__all__ = ["CrashAt", "SimulatedCrash", "ciphertexts", "decryptable_by", "files_under"]

_STEPS = ("fsync", "fdatasync", "rename", "replace", "unlink")


class SimulatedCrash(BaseException):
    """The process 'died' here (a BaseException, so no `except Exception` swallows it)."""


def files_under(*dirs: Path) -> list[Path]:
    return [p for d in dirs if d.exists() for p in sorted(d.rglob("*")) if p.is_file()]


def ciphertexts(directory: Path) -> Iterator[tuple[Path, bytes]]:
    """(file, ciphertext) for every record of every WAL segment, every snapshot's payload
    and every other file whole, under ``directory``."""
    framed: set[Path] = set()
    for raft_dir in {p.parent for p in files_under(directory) if p.suffix in (".log", ".snap")}:
        for _seq, _first, path in list_segments(raft_dir):
            framed.add(path)
            for _offset, payload in scan_segment(path).records:
                yield path, payload
        for _index, _term, path in list_snapshots(raft_dir):
            framed.add(path)
            yield path, path.read_bytes()[FRAME.size :]
    for path in files_under(directory):
        if path not in framed:
            yield path, path.read_bytes()


def decryptable_by(key: bytes, directory: Path) -> list[tuple[Path, bytes]]:
    """(file, plaintext) of every ciphertext under ``directory`` that ``key`` decrypts as
    any cipher of a manager's data key does (WAL and snapshots, worker state)."""
    keys = NodeKeys(KeyStore(directory / "unused"), {DATA_KEY: key})
    found = []
    for path, blob in ciphertexts(directory):
        for cipher in (keys.raft_cipher(), keys.worker_state_cipher()):
            try:
                found.append((path, cipher.decrypt(blob)))
            except DecryptionFailed:
                continue
    return found


class CrashAt:
    """Patches the file-system steps of `os` while in use as a context manager (see the
    module docstring); ``at`` None only counts them (``steps``)."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.steps = 0
        self._patch = pytest.MonkeyPatch()

    def __enter__(self) -> CrashAt:
        for name in _STEPS:
            self._patch.setattr(os, name, self._counted(getattr(os, name)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._patch.undo()

    def _counted(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            if self.at is not None and self.steps == self.at:
                raise SimulatedCrash(f"crash before {real.__name__} (step {self.steps})")
            self.steps += 1
            return real(*args, **kwargs)

        return step
