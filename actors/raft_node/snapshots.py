"""Snapshot files: written atomically, read back with a CRC check, old ones pruned.

A snapshot file ``snap-<index:016x>-<term:016x>.snap`` holds one framed record like the
WAL's (``<u32 length><u32 crc32><payload>``), payload = cipher.encrypt(msgpack([index, term,
voters, learners, data])). It is written with `actors.durable.write_durable` (a temp file
beside it, fsynced, renamed, the directory fsynced), so a crash leaves either the whole
file or a temp file that the storage removes when it opens.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import msgpack

from actors.durable import fsync_dir, write_durable
from actors.raft_node.types import ConfState, Snapshot, SnapshotMetadata, StorageError
from actors.raft_node.wal import FRAME, Cipher, DecryptFailed

__all__ = [
    "SnapshotCorrupted",
    "list_snapshots",
    "prune_snapshots",
    "read_snapshot",
    "snapshot_name",
    "write_snapshot",
]

_SNAP_RE = re.compile(r"^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$")


class SnapshotCorrupted(StorageError):
    """A snapshot file fails its CRC or does not decode."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: corrupt snapshot: {reason}")
        self.path = path
        self.reason = reason


def snapshot_name(index: int, term: int) -> str:
    return f"snap-{index:016x}-{term:016x}.snap"


def list_snapshots(directory: Path) -> list[tuple[int, int, Path]]:
    """(index, term, path) of every snapshot file, oldest first."""
    found = []
    for path in directory.iterdir():
        match = _SNAP_RE.match(path.name)
        if match:
            found.append((int(match.group(1), 16), int(match.group(2), 16), path))
    found.sort()
    return found


def write_snapshot(directory: Path, snapshot: Snapshot, cipher: Cipher | None) -> Path:
    meta = snapshot.metadata
    record: list[Any] = [
        meta.index,
        meta.term,
        list(meta.conf_state.voters),
        list(meta.conf_state.learners),
        snapshot.data,
    ]
    payload: bytes = msgpack.packb(record)
    if cipher is not None:
        payload = cipher.encrypt(payload)
    length = len(payload).to_bytes(4, "little")
    header = length + zlib.crc32(payload, zlib.crc32(length)).to_bytes(4, "little")
    path = directory / snapshot_name(meta.index, meta.term)
    write_durable(path, header + payload)
    return path


def read_snapshot(path: Path, cipher: Cipher | None) -> Snapshot:
    data = path.read_bytes()
    if len(data) < FRAME.size:
        raise SnapshotCorrupted(path, "shorter than its header")
    length, crc = FRAME.unpack_from(data, 0)
    payload = data[FRAME.size :]
    if len(payload) != length:
        raise SnapshotCorrupted(path, f"length {len(payload)} instead of {length}")
    if zlib.crc32(payload, zlib.crc32(data[:4])) != crc:
        raise SnapshotCorrupted(path, "CRC mismatch")
    if cipher is not None:
        try:
            payload = cipher.decrypt(payload)
        except Exception as exc:
            raise DecryptFailed(f"{path}: snapshot does not decrypt") from exc
    try:
        index, term, voters, learners, body = msgpack.unpackb(payload)
    except Exception as exc:
        raise SnapshotCorrupted(path, f"undecodable ({exc})") from exc
    match = _SNAP_RE.match(path.name)
    if match is None or (int(match.group(1), 16), int(match.group(2), 16)) != (index, term):
        raise SnapshotCorrupted(path, f"holds index {index} term {term}, not its name's")
    conf = ConfState(voters=tuple(voters), learners=tuple(learners))
    return Snapshot(SnapshotMetadata(index=index, term=term, conf_state=conf), bytes(body))


def prune_snapshots(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` snapshot files; returns the deleted paths."""
    doomed = [path for _, _, path in list_snapshots(directory)[:-keep]] if keep > 0 else []
    for path in doomed:
        path.unlink()
    if doomed:
        fsync_dir(directory)
    return doomed
